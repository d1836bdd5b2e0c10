"""The server's own refusals, in JSON: ``{"error": <a few words>, "detail": <why>}``.

Some requests never reach the app: a head that is not HTTP/1.1, one too large, a path
that is not UTF-8, a body framed two ways, a client too slow. The server answers those
itself, in the shape the Conductor's API gives every error, so that a client reads any
refusal the same way, whoever made it. Each refusal closes its connection (what follows
a malformed request cannot be trusted to start where the next one does), and the answer
says so. Only refusals come here: a request served never pays for this.
"""

from __future__ import annotations

import json
from http import HTTPStatus

import h11

#: The ``error`` words: the API's own where it has them (its 400 and 500), else the
#: status's reason phrase in lower case, as the API's other errors (Werkzeug's names).
_ERRORS = {
    400: "malformed request",
    403: "forbidden",
    408: "request timeout",
    413: "request entity too large",
    431: "request header fields too large",
    500: "internal error",
    501: "not implemented",
}
#: A detail quoting the request (h11 names the line it could not parse) is cut here:
#: a refusal is never much larger than a head.
MAX_DETAIL = 200


def refusal(status: int, detail: str) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The headers and JSON body of the server's answer ``status`` (it closes)."""
    if len(detail) > MAX_DETAIL:
        detail = detail[: MAX_DETAIL - 3] + "..."
    error = _ERRORS.get(status) or HTTPStatus(status).phrase.lower()
    # Compact and ending in a line break, as the API writes its JSON.
    body = json.dumps({"error": error, "detail": detail}, separators=(",", ":")).encode() + b"\n"
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", b"%d" % len(body)),
        (b"connection", b"close"),
    ]
    return headers, body


def unparsed(error: h11.RemoteProtocolError, max_head_size: int) -> str:
    """The detail for a request h11 could not take (its words name what was wrong)."""
    if error.error_status_hint == 431:
        return head_too_large(max_head_size)
    return f"not a valid HTTP/1.1 request: {error}"


def head_too_large(max_head_size: int) -> str:
    return f"the request line and headers are over {max_head_size} bytes"
