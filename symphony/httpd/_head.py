"""A plain answer's head written by the server, the bytes h11 would write.

Most answers are plain: a request of HTTP/1.1 that keeps its connection, a status with
a body, one ``Content-Length`` and the whole body in one message. For those, h11's
``send`` validates the app's headers (a regex each), makes its ``Response`` event a
second time while it looks for framing and ``Connection`` headers it could add, runs
its state machine three times (head, body, end) and its writers: about 17 us an answer.
Here the same checks (the header name and value rules h11 applies, the one length the
body must match) cost a regex match per header, and the head is the same bytes.

h11 still parses every request head; what it does not see, our side of a plain answer,
it does not need: the connection's next request is parsed by a fresh ``h11.Connection``
fed with the bytes the last one had received past the request (``renewed``), which is
what ``start_next_cycle`` keeps. Anything else (``HEAD``, 204 and 304, a stream, a
``Connection`` or ``Transfer-Encoding`` header of the app's, a body of another length
than declared, a request that asked to close or to upgrade, HTTP/1.0) goes through h11.
A plain request's body already received whole (nearly every small one: it came with
its head) is taken from h11's buffer as it is (``body_at_hand``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import h11

#: h11's rules (``h11._abnf``): a header name is a token; a value has no NUL, no line
#: break, and no white space at either end.
_NAME = re.compile(rb"[-!#$%&'*+.^_`|~0-9a-zA-Z]+")
_VALUE = re.compile(rb"(?:[^\x00\s]+(?:[ \t]+[^\x00\s]+)*)?")
_DIGITS = re.compile(rb"[0-9]{1,20}")


def plain_request(request: h11.Request) -> int | None:
    """The body length of a plain request (HTTP/1.1, its connection kept, no upgrade, no
    chunks: h11 checked its ``Content-Length``), or None: it is not plain."""
    if request.http_version != b"1.1":
        return None
    length = 0
    for name, value in request.headers:  # h11 gives the names in lower case
        if name in (b"upgrade", b"transfer-encoding"):
            return None
        if name == b"connection" and any(
            token.strip() == b"close" for token in value.lower().split(b",")
        ):
            return None
        if name == b"content-length":
            length = int(value)
    return length


def declared_length(request: h11.Request | None) -> int | None:
    """The body length a request's head declares (0: none), or None: chunks, unknown."""
    length = 0
    for name, value in request.headers if request is not None else ():
        if name == b"transfer-encoding":
            return None
        if name == b"content-length":
            length = int(value)
    return length


def plain_head(status: int, headers: Iterable[tuple[bytes, bytes]]) -> tuple[bytes, int] | None:
    """The head h11 would write for this answer and the body length it declares, or
    None when the answer is not plain (then h11 writes it, and refuses what it refuses)."""
    if not 200 <= status < 1000 or status in (204, 304):
        return None
    try:
        return _head(status, headers)
    except TypeError:  # not pairs of bytes (str, lists): h11 takes what it takes
        return None


def _head(status: int, headers: Iterable[tuple[bytes, bytes]]) -> tuple[bytes, int] | None:
    length = -1
    lines = [b"HTTP/1.1 %d \r\n" % status]
    for pair in headers:
        line = _CHECKED.get(pair)
        if line is None:
            name, value = pair
            if name.lower() == b"content-length":
                if length >= 0 or not _DIGITS.fullmatch(value):
                    return None
                length = int(value)
                line = b"%s: %s\r\n" % pair
            else:
                line = _checked_line(name, value)
                if line is None:
                    return None
        lines.append(line)
    if length < 0:
        return None
    lines.append(b"\r\n")
    return b"".join(lines), length


#: Header lines checked already (an answer's type, this second's date): a dict lookup
#: instead of two regex matches. Emptied when full.
_CHECKED: dict[tuple[bytes, bytes], bytes] = {}
_CHECKED_MAX = 256


def _checked_line(name: bytes, value: bytes) -> bytes | None:
    """A header's line, if h11 would write it as it is (not a framing header)."""
    if not (_NAME.fullmatch(name) and _VALUE.fullmatch(value)):
        return None
    if name.lower() in (b"connection", b"transfer-encoding"):
        return None
    if len(_CHECKED) >= _CHECKED_MAX:
        _CHECKED.clear()
    line = _CHECKED[name, value] = b"%s: %s\r\n" % (name, value)
    return line


def renewed(conn: h11.Connection, max_head_size: int, skip: int = 0) -> h11.Connection:
    """A connection ready for the next request, holding what ``conn`` received past the
    last one (as ``start_next_cycle`` would, for a cycle whose answer h11 did not see);
    ``skip``: the length of a body taken from its buffer without h11 (``body_at_hand``)."""
    data, closed = conn.trailing_data
    fresh = h11.Connection(h11.SERVER, max_incomplete_event_size=max_head_size)
    if len(data) > skip:
        fresh.receive_data(data[skip:])
    if closed:
        fresh.receive_data(b"")
    return fresh


def body_at_hand(conn: h11.Connection, length: int) -> bytes | None:
    """A plain request's whole body when h11 has received it already, else None.

    h11 would hand it over as a ``Data`` and an ``EndOfMessage`` event, each through its
    state machine (about 14 us a request); the bytes are the same. It is left in h11's
    buffer: ``renewed`` skips it, and if the answer goes through h11 after all, the
    connection is renewed the same way.
    """
    data = conn.trailing_data[0]
    return data[:length] if len(data) >= length else None


def framed_twice(request: h11.Request) -> bool:
    """Whether a request has both ``Content-Length`` and ``Transfer-Encoding`` (h11
    reads the chunks and ignores the length; a proxy in front may have done otherwise)."""
    names = {name for name, _ in request.headers}
    return b"content-length" in names and b"transfer-encoding" in names
