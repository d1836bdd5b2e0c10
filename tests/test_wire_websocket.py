"""The Conductor's own WebSocket reader, fed hand-made frames over real TLS on 127.0.0.1.

A raw client (TLS with a node certificate, an HTTP upgrade written by hand, masked
frames built here) sends what no well-behaved node would: oversized frames, bad UTF-8,
unmasked frames, a close in the middle of a message. Each must end that one link with
the right close code, and the server must keep serving.
"""

from __future__ import annotations

import base64
import os
import ssl
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from functools import partial
from pathlib import Path

import msgpack
import pytest
import trio

from symphony.pki import ConductorPKI, server_ssl_context
from symphony.wire import (
    ConnectionClosed,
    Heartbeat,
    NodeConnection,
    answer_hello,
    receive_hello,
    serve_nodes,
)
from tests.test_wire_support import make_pki, node_files

MAX = 4096  # the server's message limit in these tests


@pytest.fixture
def pki(tmp_path: Path) -> ConductorPKI:
    return make_pki(tmp_path)


class Ended:
    """What the server's handler saw: the close it got, or the messages it echoed."""

    def __init__(self) -> None:
        self.closes: list[ConnectionClosed] = []
        self.done = trio.Event()


async def start(nursery: trio.Nursery, pki: ConductorPKI, ended: Ended) -> int:
    async def handler(conn: NodeConnection) -> None:
        try:
            hello = await receive_hello(conn, timeout=5)
            await answer_hello(conn, hello, heartbeat_sec=5, node_timeout_sec=30)
            while True:
                await conn.send(await conn.receive())  # echo
        except ConnectionClosed as closed:
            ended.closes.append(closed)
            raise
        finally:
            ended.done.set()

    return await nursery.start(
        partial(
            serve_nodes,
            handler,
            host="127.0.0.1",
            port=0,
            ssl_context=server_ssl_context(pki),
            max_frame_size=MAX,
        )
    )


def frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bool = True) -> bytes:
    """One client frame (masked unless told otherwise)."""
    first = (0x80 if fin else 0) | opcode
    size = len(payload)
    if size < 126:
        head = bytes((first, (0x80 if mask else 0) | size))
    elif size < 65536:
        head = bytes((first, (0x80 if mask else 0) | 126)) + size.to_bytes(2, "big")
    else:
        head = bytes((first, (0x80 if mask else 0) | 127)) + size.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = os.urandom(4)
    return head + key + bytes(b ^ key[i % 4] for i, b in enumerate(payload))


HELLO = msgpack.packb({"t": "hello", "protocol_version": 1, "node_id": "n1"})


class RawClient:
    """A TLS stream after a hand-written upgrade; reads the server's (unmasked) frames."""

    def __init__(self, stream: trio.SSLStream[trio.SocketStream]) -> None:
        self.stream = stream
        self.buffer = b""

    async def _more(self) -> None:
        data = await self.stream.receive_some(65536)
        if not data:
            raise EOFError("the server closed the connection")
        self.buffer += data

    async def read_frame(self) -> tuple[int, bytes]:
        while len(self.buffer) < 2:
            await self._more()
        size = self.buffer[1] & 0x7F
        head = 2 if size < 126 else 4 if size == 126 else 10
        while len(self.buffer) < head:
            await self._more()
        if size >= 126:
            size = int.from_bytes(self.buffer[2:head], "big")
        while len(self.buffer) < head + size:
            await self._more()
        opcode, payload = self.buffer[0] & 0x0F, self.buffer[head : head + size]
        self.buffer = self.buffer[head + size :]
        return opcode, payload

    async def close_code(self) -> int:
        """Frames until the server's close frame; its code."""
        with trio.fail_after(10):
            while True:
                opcode, payload = await self.read_frame()
                if opcode == 0x8:
                    return int.from_bytes(payload[:2], "big")

    async def hello(self) -> None:
        await self.stream.send_all(frame(0x2, HELLO))
        opcode, payload = await self.read_frame()
        assert opcode == 0x2 and msgpack.unpackb(payload)["t"] == "hello_accepted"


@asynccontextmanager
async def raw_client(port: int, ctx: ssl.SSLContext) -> AsyncIterator[RawClient]:
    stream = await trio.open_ssl_over_tcp_stream("127.0.0.1", port, ssl_context=ctx)
    key = base64.b64encode(os.urandom(16))
    await stream.send_all(
        b"GET /v1/node HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: " + key + b"\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    )
    client = RawClient(stream)
    with trio.fail_after(10):
        while b"\r\n\r\n" not in client.buffer:
            await client._more()
    head, client.buffer = client.buffer.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 101"), head
    try:
        yield client
    finally:
        await trio.aclose_forcefully(stream)


class Server:
    """A node endpoint that echoes, the handler's record, and a node's TLS context."""

    def __init__(self, port: int, ctx: ssl.SSLContext, ended: Ended) -> None:
        self.port, self.ctx, self.ended = port, ctx, ended

    def client(self) -> AbstractAsyncContextManager[RawClient]:
        return raw_client(self.port, self.ctx)

    async def still_serving(self) -> None:
        async with self.client() as other:
            await other.hello()

    async def handler_saw(self) -> ConnectionClosed:
        await self.ended.done.wait()
        return self.ended.closes[0]


@pytest.fixture
async def server(pki: ConductorPKI, tmp_path: Path, nursery: trio.Nursery) -> Server:
    ended = Ended()
    port = await start(nursery, pki, ended)
    return Server(port, node_files(pki, tmp_path / "node", "n1").context(), ended)


async def test_websocket_oversized_frame_closes_1009_from_its_header(server):
    async with server.client() as client:
        await client.hello()
        # Only the header of a 1 GiB frame: the server must refuse it without the payload.
        header = bytes((0x82, 0x80 | 127)) + (1 << 30).to_bytes(8, "big") + os.urandom(4)
        await client.stream.send_all(header)
        assert await client.close_code() == 1009
    assert (await server.handler_saw()).code == 1009
    await server.still_serving()


async def test_websocket_fragments_over_the_limit_close_1009(server):
    async with server.client() as client:
        await client.hello()
        for opcode in (0x2, 0x0, 0x0):  # three fragments of MAX / 2: the third passes
            await client.stream.send_all(frame(opcode, b"x" * (MAX // 2), fin=False))
        assert await client.close_code() == 1009


async def test_websocket_bad_utf8_in_a_text_frame_closes_1007(server):
    async with server.client() as client:
        await client.hello()
        await client.stream.send_all(frame(0x1, b"caf\xc3 \xff"))
        assert await client.close_code() == 1007
    assert (await server.handler_saw()).code == 1007
    await server.still_serving()


async def test_websocket_non_msgpack_binary_closes_1002(server):
    async with server.client() as client:
        await client.hello()
        await client.stream.send_all(frame(0x2, b"\xc1\xc1 not msgpack"))
        assert await client.close_code() == 1002
    await server.still_serving()


@pytest.mark.parametrize(
    "bad",
    [
        frame(0x2, HELLO, mask=False),  # a client's frames must be masked
        bytes((0x82 | 0x40, 0x80)) + os.urandom(4),  # a reserved bit
        frame(0x3, b"x"),  # an unknown opcode
        frame(0x0, b"x"),  # a continuation of nothing
        frame(0x9, b"p", fin=False),  # a fragmented ping
        frame(0x8, b"\x03"),  # a close with a 1-byte payload
        frame(0x8, (1005).to_bytes(2, "big")),  # a code only a library may use
    ],
    ids=[
        "unmasked",
        "reserved bit",
        "opcode",
        "continuation",
        "fragmented ping",
        "close 1 byte",
        "close 1005",
    ],
)
async def test_websocket_broken_framing_closes_1002(server, bad):
    async with server.client() as client:
        await client.hello()
        await client.stream.send_all(bad)
        assert await client.close_code() == 1002
    await server.still_serving()


async def test_websocket_close_in_the_middle_of_a_message_is_answered(server):
    async with server.client() as client:
        await client.hello()
        await client.stream.send_all(frame(0x2, HELLO[:5], fin=False))
        await client.stream.send_all(frame(0x8, (4000).to_bytes(2, "big") + b"bye"))
        assert await client.close_code() == 4000  # the server echoes the code
    closed = await server.handler_saw()
    assert (closed.code, closed.reason) == (4000, "bye")


async def test_websocket_connection_lost_in_the_middle_of_a_message_is_1006(server):
    async with server.client() as client:
        await client.hello()
        await client.stream.send_all(frame(0x2, HELLO)[:5])  # half a frame, then gone
    assert (await server.handler_saw()).code == 1006
    await server.still_serving()


async def test_websocket_fragments_pings_and_split_writes_make_one_message(server):
    async with server.client() as client:
        await client.hello()
        beat = msgpack.packb({"t": "heartbeat", "seq": 7, "usage": {"cpu": 1.5}})
        data = (
            frame(0x2, beat[:3], fin=False)
            + frame(0x9, b"are you there")  # a ping between fragments
            + frame(0x0, beat[3:9], fin=False)
            + frame(0x0, beat[9:])
        )
        for i in range(len(data)):  # one byte per TLS record
            await client.stream.send_all(data[i : i + 1])
        opcode, payload = await client.read_frame()
        assert (opcode, payload) == (0xA, b"are you there")
        opcode, payload = await client.read_frame()
        assert opcode == 0x2 and msgpack.unpackb(payload) == msgpack.unpackb(beat)
        assert Heartbeat(seq=7, usage={"cpu": 1.5}).seq == msgpack.unpackb(payload)["seq"]


async def test_websocket_silence_mid_frame_ends_in_the_hello_deadline(server):
    """The reader is cancelled inside a half-read frame; the link closes cleanly (1002)."""
    async with server.client() as client:
        await client.stream.send_all(frame(0x2, HELLO)[:4])
        assert await client.close_code() == 1002  # "no hello within 5s"
    await server.still_serving()
