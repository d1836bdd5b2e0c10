"""Whether a request asks for a WebSocket: checked on every request, so apart from
the WebSocket's own module (:mod:`._websocket`, with wsproto's handshake and the
deflate extension), which the server imports at the first upgrade it serves."""

from __future__ import annotations

import h11


def header(request: h11.Request, name: bytes) -> bytes | None:
    """The first value of header ``name`` (lower case), or None."""
    for key, value in request.headers:
        if key == name:
            return bytes(value)
    return None


def is_upgrade(request: h11.Request) -> bool:
    """Whether ``request`` asks for a WebSocket (``GET`` with ``Upgrade: websocket``)."""
    upgrade = header(request, b"upgrade")
    if upgrade is None or upgrade.strip().lower() != b"websocket" or request.method != b"GET":
        return False
    connection = header(request, b"connection") or b""
    return any(t.strip().lower() == b"upgrade" for t in connection.split(b","))
