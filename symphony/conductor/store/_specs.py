"""Parsed deployment specs by the text the store keeps of them, shared while in use.

Every read of a deployment turns its stored JSON text back into a
:class:`~symphony.spec.DeploymentSpec`, and validating one costs about 100 us: a read of
10,000 deployments (the web UI's first ``/live`` message, a listing after a start) spent
a second on it. A spec is a frozen value, so two reads of one text can share one object,
and so can the writer that made the text: :func:`spec_text` notes each spec under its
text as it writes it, and :func:`stored_spec` finds it there.

The table holds its specs weakly: an entry lasts while something else holds the spec
(the deployment's supervisor keeps its record; a listing's snapshot keeps its records),
so it never keeps a deleted or replaced spec alive and needs no size limit; an LRU of a
few thousand, which it replaces, missed every row of a read of more deployments than
it held. Keys are 16-byte digests of the text, not the text itself (its ~500 bytes per
deployment would double what the table costs). Reads happen on worker threads too (the
shared listings read off the event loop), hence the lock.
"""

from __future__ import annotations

import hashlib
import json
import threading
import weakref

from symphony.spec import DeploymentSpec, parse_stored_spec

__all__ = ["spec_text", "stored_spec"]

_by_digest: weakref.WeakValueDictionary[bytes, DeploymentSpec] = weakref.WeakValueDictionary()
_lock = threading.Lock()


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def spec_text(spec: DeploymentSpec) -> str:
    """The JSON text the store keeps of a spec: :meth:`~DeploymentSpec.to_dict`'s values,
    compact, made by pydantic in one step (a third of ``json.dumps(spec.to_dict())``'s
    cost; every reader parses the text, so its spacing is nobody's concern). A spec an
    older version stored with a lone surrogate in a string (UTF-8 cannot say it) is
    written as before, escaped by ``json.dumps``. The spec is noted as the text's parse."""
    try:
        text = spec.model_dump_json()
    except ValueError:  # pydantic's serialization error
        text = json.dumps(spec.to_dict())
    key = _digest(text)
    with _lock:
        _by_digest[key] = spec
    return text


def stored_spec(text: str) -> DeploymentSpec:
    """The spec a stored text says: the object in use for it if there is one, else
    parsed (:func:`~symphony.spec.parse_stored_spec`: a spec accepted by an older
    version stays readable). Raises ``SpecError`` or ``ValueError`` for a text that is
    not a spec."""
    key = _digest(text)
    with _lock:
        found = _by_digest.get(key)
    if found is not None:
        return found
    spec = parse_stored_spec(json.loads(text))
    with _lock:
        _by_digest[key] = spec
    return spec
