"""Entry points: :func:`parse_spec` and :func:`apply_patch` (JSON merge patch)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from ._errors import SpecError
from ._model import DeploymentSpec
from ._words import translate_errors

#: The fields a change may keep as they were stored, each not held to the rules added
#: after it was accepted (the validators read ``kept_<field>`` in their context): an
#: update policy whose deadline is not past its minimum, a health check probing more
#: often than once a second, more than 64 capacity classes.
KEPT_FIELDS = ("update", "health_check", "capacity_requests")


def parse_spec(
    data: object, *, previous: DeploymentSpec | Sequence[DeploymentSpec] | None = None
) -> DeploymentSpec:
    """Validate ``data`` (a dict from JSON or YAML) into a :class:`DeploymentSpec`.

    Raises :class:`SpecError` listing every problem with its field path::

        >>> parse_spec({"config": {"command": "python3 main.py"}})
        Traceback (most recent call last):
        SpecError: config.command: must be a list of strings, e.g. ["python3", "main.py"], ...

    A missing ``name`` is generated from the command (``main-3f9a1c``).

    ``previous`` is the stored spec ``data`` changes (a patch, a rollback), or the
    stored specs it is made of (a rollback: the deployment's, and the version's
    template): a field of :data:`KEPT_FIELDS` kept exactly as one of them stores it is
    not held to rules added after it was accepted, so scaling, stopping or reverting a
    deployment never fails on a field nobody touched.
    """
    if not isinstance(data, Mapping):
        raise SpecError([{"path": "", "message": _not_an_object(data)}])
    if isinstance(previous, DeploymentSpec):
        previous = [previous]
    return _validate(data, _kept(data, [p.to_dict() for p in previous or ()]))


def parse_stored_spec(data: object) -> DeploymentSpec:
    """Validate a spec read back from storage: like :func:`parse_spec`, but rules added
    after the spec was accepted (valid Unicode, no control characters in names, no final
    newline in names) are waived, so an upgrade never makes a stored deployment
    unreadable. Every other rule holds; a patch is validated in full again."""
    if not isinstance(data, Mapping):
        raise SpecError([{"path": "", "message": _not_an_object(data)}])
    return _validate(data, {"stored": True})


def _validate(data: Mapping[str, Any], context: dict[str, Any] | None) -> DeploymentSpec:
    try:
        return DeploymentSpec.model_validate(dict(data), context=context)
    except ValidationError as exc:
        raise SpecError(translate_errors(exc.errors(), model=DeploymentSpec)) from None


def apply_patch(spec: DeploymentSpec, patch: object) -> DeploymentSpec:
    """``spec`` with ``patch`` applied as a JSON merge patch (RFC 7386).

    Objects merge key by key, ``null`` removes a key (so the field returns to its
    default; for ``config.env`` it removes that variable), other values replace. The
    result is validated as a whole, so errors name the merged field paths (an ``update``
    field of :data:`KEPT_FIELDS` the patch leaves as it was stored excepted, see
    :func:`parse_spec`).
    """
    if not isinstance(patch, Mapping):
        raise SpecError([{"path": "", "message": _not_an_object(patch)}])
    current = spec.to_dict()
    merged = merge_patch(current, patch)
    return _validate(merged, _kept(merged, [current]))


def _kept(data: Mapping[str, Any], stored: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The validation context waiving the newer rules of each field ``data`` keeps as
    one of the ``stored`` specs has it (None: it keeps none)."""
    kept = {
        f"kept_{name}": True
        for name in KEPT_FIELDS
        if any(data.get(name) == before.get(name) for before in stored)
    }
    return kept or None


def merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386 merge of ``patch`` into ``target``; neither argument is modified."""
    if not isinstance(patch, Mapping):
        return patch
    result = dict(target) if isinstance(target, Mapping) else {}
    for key, value in patch.items():
        if value is None:
            result.pop(key, None)
        else:
            result[key] = merge_patch(result.get(key), value)
    return result


def _not_an_object(value: object) -> str:
    return f"a deployment spec must be an object (mapping), got {type(value).__name__}"
