"""A WebSocket client whose socket is ours: closed when the block ends, whoever closed first.

trio-websocket's client leaves its stream open when the *server* starts the closing
handshake: it answers the close, and its ``aclose()`` then returns at once on a closed
WebSocket, so the socket waits for a finaliser (a ``ResourceWarning``, and a descriptor
held until the garbage collector finds it). ``open_websocket_url`` gives no handle on
that stream. Here the stream is opened first and handed to ``wrap_client_stream``, and
closed by us once the WebSocket is done with it.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from urllib.parse import urlsplit

import trio
import trio_websocket

from symphony.actors import raise_unchanged, sole_exception

__all__ = ["open_websocket"]


async def _connect(host: str, port: int, secure: bool) -> trio.abc.Stream:
    if not secure:
        return await trio.open_tcp_stream(host, port)
    context = ssl.create_default_context()
    return await trio.open_ssl_over_tcp_stream(
        host, port, ssl_context=context, https_compatible=True
    )


@asynccontextmanager
async def open_websocket(
    url: str,
    *,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
    message_queue_size: int = 4,
    connect_timeout: float = 60.0,
    close_timeout: float = 60.0,
) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """A client WebSocket to ``url`` (``ws://`` or ``wss://``) for the ``async with``
    block. As trio-websocket's own: the connection, TLS and upgrade are bounded by
    ``connect_timeout`` (:class:`trio_websocket.ConnectionTimeout`), a refusal raises
    :class:`trio_websocket.ConnectionRejected`, an unreachable host ``OSError``; what
    escapes the block comes out as itself, not in an exception group."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise ValueError(f"not a WebSocket URL: {url!r}")
    secure = parts.scheme == "wss"
    host = parts.hostname
    port = parts.port or (443 if secure else 80)
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    host_header = host if port in (80, 443) else f"{host}:{port}"
    deadline = trio.current_time() + connect_timeout
    try:
        with trio.fail_at(deadline):
            stream = await _connect(host, port, secure)
    except trio.TooSlowError:
        raise trio_websocket.ConnectionTimeout from None
    try:
        async with trio.open_nursery() as nursery:
            try:
                with trio.fail_at(deadline):
                    ws = await trio_websocket.wrap_client_stream(
                        nursery,
                        stream,  # type: ignore[arg-type]  # typed as SocketStream | SSLStream
                        host_header,
                        resource,
                        extra_headers=extra_headers,
                        message_queue_size=message_queue_size,
                    )
            except trio.TooSlowError:
                raise trio_websocket.ConnectionTimeout from None
            try:
                yield ws
            finally:
                with trio.move_on_after(close_timeout):
                    await ws.aclose()
                nursery.cancel_scope.cancel()  # the reader, if the close timed out
    except BaseExceptionGroup as group:
        single = sole_exception(group)
        if single is None:
            raise
        raise_unchanged(single)
    finally:
        # The one line this module is for: after a close the server started, the
        # library has left this stream open (a no-op otherwise).
        await trio.aclose_forcefully(stream)
