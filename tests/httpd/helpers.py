"""A server on 127.0.0.1 for tests, and a raw client that sees exactly what it sends."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial

import h11
import trio

from symphony.httpd import ASGIApp, Message, Scope, ServerSettings, serve


@asynccontextmanager
async def serving(app: ASGIApp, **settings: float) -> AsyncIterator[int]:
    """Serve ``app`` on a free port for the block; stops it gracefully after."""
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(
            partial(
                serve,
                app,
                host="127.0.0.1",
                port=0,
                shutdown_trigger=stop.wait,
                settings=ServerSettings(**settings),  # type: ignore[arg-type]
            )
        )
        yield int(urls[0].rsplit(":", 1)[1])
        stop.set()


async def exchange(port: int, data: bytes, *, wait: float = 5.0) -> bytes:
    """Send ``data`` and read until the server closes (or ``wait`` seconds pass)."""
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(data)
        chunks = []
        with trio.move_on_after(wait):
            while chunk := await stream.receive_some(65536):
                chunks.append(chunk)
        return b"".join(chunks)


def responses(
    raw: bytes, methods: list[bytes] | None = None
) -> list[tuple[int, dict[bytes, bytes], bytes]]:
    """The responses in ``raw`` (status, headers, body), parsed by h11 as a client."""
    out = []
    for method in methods or [b"GET"] * 16:
        conn = h11.Connection(h11.CLIENT)
        conn.send(h11.Request(method=method, target="/", headers=[("Host", "x")]))
        conn.send(h11.EndOfMessage())
        conn.receive_data(raw)
        status, headers, body = 0, {}, b""
        while True:
            event = conn.next_event()
            if isinstance(event, h11.Response):
                status, headers = event.status_code, dict(event.headers)
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                out.append((status, headers, body))
                break
            else:  # NEED_DATA or a closed stream: no (more) whole responses
                return out
        raw = conn.trailing_data[0]
        if not raw:
            return out
    return out


async def echo_app(scope: Scope, receive: object, send: object) -> None:
    """Answers with the method, path and the whole body it read (lifespan: ignored)."""
    assert callable(receive) and callable(send)
    if scope["type"] != "http":
        raise RuntimeError("no lifespan here")
    body = b""
    while True:
        message: Message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    text = f"{scope['method']} {scope['path']} ".encode() + body
    headers = [(b"content-length", str(len(text)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": text})


class WsClient:
    """A WebSocket client on wsproto (trio-websocket's client leaks its socket when the
    server closes first, with Hypercorn too)."""

    def __init__(self, stream: trio.SocketStream, subprotocols: list[str]) -> None:
        from wsproto import WSConnection
        from wsproto.connection import ConnectionType

        self.stream = stream
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.subprotocols = subprotocols
        self.pending: list[object] = []

    async def _write(self, event: object) -> None:
        await self.stream.send_all(self.ws.send(event))  # type: ignore[arg-type]

    async def next_event(self) -> object:
        while not self.pending:
            data = await self.stream.receive_some(65536)
            self.ws.receive_data(data or None)
            self.pending.extend(self.ws.events())
        return self.pending.pop(0)

    async def open(self) -> object:
        from wsproto.events import Request

        await self._write(Request(host="x", target="/ws", subprotocols=self.subprotocols))
        return await self.next_event()  # AcceptConnection or RejectConnection

    async def send(self, data: str | bytes) -> None:
        from wsproto.events import BytesMessage, TextMessage

        await self._write(TextMessage(data) if isinstance(data, str) else BytesMessage(data))

    async def get(self) -> object:
        """The next whole message's data, or the CloseConnection event."""
        from wsproto.events import CloseConnection, Message

        parts: list[object] = []
        while True:
            event = await self.next_event()
            if isinstance(event, CloseConnection):
                await self._write(event.response())
                return event
            if isinstance(event, Message):
                parts.append(event.data)
                if event.message_finished:
                    return "".join(parts) if isinstance(event.data, str) else b"".join(parts)  # type: ignore[arg-type]


@asynccontextmanager
async def ws_client(port: int, subprotocols: list[str] | None = None) -> AsyncIterator[WsClient]:
    """An open WebSocket to ``/ws`` (the accept asserted), closed after the block."""
    from wsproto.events import AcceptConnection

    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        client = WsClient(stream, subprotocols or [])
        accepted = await client.open()
        assert isinstance(accepted, AcceptConnection), accepted
        client.accepted = accepted  # type: ignore[attr-defined]
        yield client
