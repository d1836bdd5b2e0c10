"""Scopes as Hypercorn fills them, from an h11 request and the connection's addresses."""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import unquote_to_bytes

import h11

from ._types import Scope

Address = tuple[str, int]


def address(sockaddr: Any) -> Address | None:
    """``(host, port)`` of a socket address (IPv6 has two more fields); None for others."""
    if isinstance(sockaddr, tuple) and len(sockaddr) >= 2:
        return (str(sockaddr[0]), int(sockaddr[1]))
    return None


def bind_url(family: int, sockaddr: Any, scheme: str = "http") -> str:
    """``http://127.0.0.1:8000`` or ``http://[::1]:8000``: what a client connects to."""
    host, port = sockaddr[0], sockaddr[1]
    if family == socket.AF_INET6:
        return f"{scheme}://[{host}]:{port}"
    return f"{scheme}://{host}:{port}"


def request_scope(
    kind: str,
    request: h11.Request,
    *,
    client: Address | None,
    server: Address | None,
    state: dict[str, Any],
) -> Scope:
    """The scope of an ``http`` or ``websocket`` request.

    ``path`` is the percent-decoded path as UTF-8; a path that is not valid UTF-8 once
    decoded raises :class:`UnicodeDecodeError` (the caller answers 400).
    """
    raw_path, _, query_string = request.target.partition(b"?")
    scope: Scope = {
        "type": kind,
        "asgi": {"spec_version": "2.3" if kind == "websocket" else "2.1", "version": "3.0"},
        "http_version": request.http_version.decode("ascii"),
        "scheme": "ws" if kind == "websocket" else "http",
        "path": unquote_to_bytes(raw_path).decode("utf-8"),
        "raw_path": raw_path,
        "query_string": query_string,
        "root_path": "",
        "headers": list(request.headers),
        "client": client,
        "server": server,
        "state": state.copy(),
        "extensions": {},
    }
    if kind == "http":
        scope["method"] = request.method.decode("ascii").upper()
    else:
        scope["extensions"] = {"websocket.http.response": {}}
    return scope
