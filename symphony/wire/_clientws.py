"""trio-websocket's client connection as a :class:`~.connection.Transport`.

A node reads its link through trio-websocket, whose closed connection raises the
library's ``ConnectionClosed``; :class:`~.connection.WireConnection` expects ours, which
the Conductor's own WebSocket raises. This adapter translates, so the connection module
(and with it the Conductor, which only serves links) never imports trio-websocket: an
idle Conductor holds 0.4 MiB less.
"""

from __future__ import annotations

import trio_websocket

from .errors import ConnectionClosed

__all__ = ["ClientTransport"]


def _closed(exc: trio_websocket.ConnectionClosed) -> ConnectionClosed:
    reason = exc.reason
    if reason is None:
        return ConnectionClosed(1006, "connection lost")
    return ConnectionClosed(reason.code, reason.reason or reason.name.lower().replace("_", " "))


class ClientTransport:
    """The node's side of one link: trio-websocket's connection, our exceptions."""

    __slots__ = ("_ws",)

    def __init__(self, ws: trio_websocket.WebSocketConnection) -> None:
        self._ws = ws

    async def send_message(self, data: bytes) -> None:
        try:
            await self._ws.send_message(data)
        except trio_websocket.ConnectionClosed as exc:
            raise _closed(exc) from None

    async def get_message(self) -> bytes | str:
        try:
            return await self._ws.get_message()
        except trio_websocket.ConnectionClosed as exc:
            raise _closed(exc) from None

    @property
    def closed(self) -> trio_websocket.CloseReason | None:
        return self._ws.closed

    async def aclose(self, code: int = 1000, reason: str | None = None) -> None:
        await self._ws.aclose(code, reason)
