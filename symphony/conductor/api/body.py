"""Request bodies: the one place the API turns bytes into JSON, with every limit checked.

Every body the API reads goes through :func:`json_body`, so the rules are the same for
each route:

- at most :data:`MAX_BODY` bytes (larger: 413, enforced by Quart before we read);
- ``Content-Type: application/json`` (else 415; checked for every request that carries
  a body in :func:`check_body_type`, before any route runs);
- valid UTF-8 and valid JSON (else 400 saying which);
- no key twice in one object (else 400 naming it; see :mod:`symphony.uniquejson`);
- at most :data:`MAX_DEPTH` nested arrays/objects (else 400): a thousand nested lists
  made Python's recursion limit fail somewhere later, as a 500.
"""

from __future__ import annotations

from typing import Any, Protocol, TypeVar, overload

from pydantic import BaseModel, ValidationError
from quart import request

from symphony import uniquejson
from symphony.spec import translate_errors

from .errors import HttpError

#: Largest request body (a spec is a few KiB); larger is a JSON 413 that also closes the
#: connection (see :func:`.errors.error_response`).
MAX_BODY = 1024 * 1024
#: Deepest nesting of arrays and objects a body may have. A spec needs 4.
MAX_DEPTH = uniquejson.MAX_DEPTH
#: Methods whose body the API reads; their bodies must be JSON.
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})

_EMPTY = object()


class HeaderMap(Protocol):
    """Request headers looked up by name, whatever its case (werkzeug's ``Headers``,
    or :class:`.lean.Headers`)."""

    @overload
    def get(self, key: str, /) -> str | None: ...
    @overload
    def get(self, key: str, default: str, /) -> str: ...


def check_body_type(method: str, path: str, headers: HeaderMap) -> None:
    """Refuse (415) a body that is not declared as JSON (``headers``: the request's).

    A browser lets any web page send a cross-site ``text/plain`` or form POST without
    asking the server first; only ``application/json`` makes it ask (a CORS preflight,
    which this API never grants). An empty body needs no type (``POST /tokens``).
    """
    if method in BODY_METHODS and has_body(headers):
        if path == "/uploads":  # an archive (see routes_uploads.py), not JSON
            _require_upload_type(headers)
        else:
            _require_json_type(headers)


def _require_upload_type(headers: HeaderMap) -> None:
    from .routes_uploads import UPLOAD_TYPES

    mime = headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if mime not in UPLOAD_TYPES:
        raise HttpError(
            415,
            "unsupported media type",
            "send the archive with 'Content-Type: application/octet-stream'",
        )


def _require_json_type(headers: HeaderMap) -> None:
    mime = headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    # application/merge-patch+json (RFC 7386) and other +json types are JSON too, and
    # like application/json a page cannot send them cross-site without asking first.
    if mime != "application/json" and not (
        mime.startswith("application/") and mime.endswith("+json")
    ):
        raise HttpError(
            415,
            "unsupported media type",
            "send the body as JSON with 'Content-Type: application/json'"
            + (f", not {mime!r}" if mime else ""),
        )


def has_body(headers: HeaderMap) -> bool:
    """Whether a request with these headers carries a body (a length, or chunks)."""
    length = headers.get("Content-Length")
    if length is not None:
        return length.strip() not in ("", "0")
    return "chunked" in headers.get("Transfer-Encoding", "").lower()


async def json_body(*, empty: Any = _EMPTY) -> Any:
    """The request's JSON body, or a 400 that says what is wrong with it.

    ``empty`` is what an empty body means; without it an empty body is a 400.
    """
    # Every argument spelled out: Quart's overload that returns bytes has no defaults.
    raw = await request.get_data(cache=True, as_text=False, parse_form_data=False)
    return decode_body(raw, request.headers, empty=empty)


def decode_body(raw: bytes, headers: HeaderMap, *, empty: Any = _EMPTY) -> Any:
    """:func:`json_body` for a body already read (``headers``: the request's)."""
    if not raw.strip():
        if empty is _EMPTY:
            raise HttpError(400, "malformed request", "the body is empty; send a JSON document")
        return empty
    _require_json_type(headers)  # again: a body may come without a length (HTTP/2, no framing)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise HttpError(400, "malformed request", "the body is not valid UTF-8") from None
    try:
        data = uniquejson.loads(text)
    except RecursionError:
        raise _too_deep() from None
    except uniquejson.DuplicateKey as error:
        raise HttpError(
            400, "malformed request", f"the body has the key {error.key!r} twice in one object"
        ) from None
    except ValueError as error:
        raise HttpError(400, "malformed request", f"the body is not valid JSON: {error}") from None
    # Each level opens a bracket: a body with few of them is not walked (most bodies).
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and uniquejson.deeper_than(data):
        raise _too_deep()
    return data


M = TypeVar("M", bound=BaseModel)


def parse_body(model: type[M], data: Any) -> M:
    """``data`` (a decoded JSON body) validated into ``model``, or a 422 whose detail
    lists ``{"path", "message"}`` in the same words as a refused spec."""
    if not isinstance(data, dict):
        raise HttpError(400, "malformed request", "the body is a JSON object (or empty)")
    try:
        return model.model_validate(data)
    except ValidationError as error:
        detail = translate_errors(error.errors(), model=model)
        raise HttpError(422, "invalid request", detail) from None


def _too_deep() -> HttpError:
    return HttpError(
        400, "malformed request", f"the body nests arrays/objects more than {MAX_DEPTH} deep"
    )
