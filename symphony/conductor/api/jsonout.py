"""How the API writes JSON: compact UTF-8, keys in build order, by two encoders.

Every JSON answer has one form: compact (no spaces), UTF-8 (a name written in Greek
stays Greek, not ``\\u03b1`` escapes), keys in the order the answer was built in (a
deployment's view: ``id``, ``name``, ``state``, ... rather than sorted), and a final
newline. JSON numbers and strings read the same as in the sorted, ASCII-escaped form
answers had before; a client that compared answers byte for byte across versions would
see the new order.

Two encoders write it:

- :func:`json_compact`, pydantic-core's compiled encoder, for the hot answers: a
  create's 201, a listing's deployments, the live stream's messages. On a deployment's
  view it takes about a quarter of the time :func:`json.dumps` took (a create's 201:
  16 -> 4 us; a view in a listing: 13 -> 4 us, a summary 6.0 -> 1.3 us).
- :func:`json_bytes`, :func:`json.dumps`, for everything else: errors, and every
  ``dict`` or ``list`` a Quart route returns (:class:`ApiJsonProvider`). The compiled
  encoder holds about 0.6 MiB once first used; an idle Conductor answering health
  checks and node lists never pays for it (a Conductor that stores a spec has paid it
  already: the store writes specs with pydantic).

A string that is not valid Unicode (a lone surrogate: no input of ours lets one in, but
a file name read from a disk might) cannot be UTF-8: it is written escaped, never
refused.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from pydantic_core import PydanticSerializationError, to_json
from quart.json.provider import DefaultJSONProvider
from quart.wrappers import Response
from werkzeug.sansio.response import Response as WerkzeugResponse

__all__ = ["ApiJsonProvider", "json_bytes", "json_compact"]

_COMPACT = (",", ":")


def json_compact(value: Any) -> bytes:
    """``value`` in the API's form by the compiled encoder, without the final newline:
    a whole hot answer (add the newline) or a part of one."""
    try:
        return to_json(value)
    except PydanticSerializationError:  # a lone surrogate
        return json.dumps(value, separators=_COMPACT).encode()


def json_bytes(value: Any) -> bytes:
    """``value`` as a whole answer in the API's form, by :func:`json.dumps`."""
    return _dumped(json.dumps, value)


def _dumped(dumps: Callable[..., str], value: Any) -> bytes:
    try:
        return (dumps(value, separators=_COMPACT, ensure_ascii=False) + "\n").encode()
    except UnicodeEncodeError:  # a lone surrogate: escaped instead
        return (dumps(value, separators=_COMPACT, ensure_ascii=True) + "\n").encode()


class ApiJsonProvider(DefaultJSONProvider):
    """Quart's JSON for the answers routes return as ``dict`` or ``list``: the API's
    form (:func:`json_bytes`), with Quart's conversions of other types (dates,
    dataclasses) as before. Reading JSON is unchanged."""

    sort_keys = False

    def response(self, *args: Any, **kwargs: Any) -> WerkzeugResponse:
        return Response(
            _dumped(self.dumps, self._prepare_response_obj(args, kwargs)), mimetype=self.mimetype
        )
