"""A WebSocket message past the limit closes with 1009, compressed or not, and the
server never holds much more of it than the limit."""

from __future__ import annotations

import tracemalloc
import zlib
from typing import Any

import trio

from symphony.httpd import Scope

from .helpers import serving

UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
)
LIMIT = 1 << 20
CLOSE_TOO_BIG = b"\x88\x02\x03\xf1"  # a Close frame with 1009, as a server sends it


def _frame(payload: bytes, *, compressed: bool, fin: bool = True) -> bytes:
    """A binary frame from a client (masked with a zero key, which leaves the data)."""
    head = (0x80 if fin else 0) | (0x40 if compressed else 0) | 0x02
    if len(payload) < 126:
        size = bytes([0x80 | len(payload)])
    elif len(payload) < 1 << 16:
        size = bytes([0x80 | 126]) + len(payload).to_bytes(2, "big")
    else:
        size = bytes([0x80 | 127]) + len(payload).to_bytes(8, "big")
    return bytes([head]) + size + b"\x00" * 4 + payload


def _deflated_zeros(mebibytes: int) -> bytes:
    """``mebibytes`` MiB of zeros deflated as permessage-deflate sends them (~1 KiB/MiB)."""
    deflate = zlib.compressobj(9, zlib.DEFLATED, -15)
    zeros = b"\x00" * (1 << 20)
    data = b"".join(deflate.compress(zeros) for _ in range(mebibytes))
    return (data + deflate.flush(zlib.Z_SYNC_FLUSH))[:-4]  # without 00 00 ff ff


async def _app(scope: Scope, receive: Any, send: Any) -> None:
    if scope["type"] != "websocket":
        raise RuntimeError("no lifespan here")
    await receive()
    await send({"type": "websocket.accept"})
    while (await receive())["type"] != "websocket.disconnect":
        pass


async def _send_and_read_close(port: int, frames: bytes) -> bytes:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        await stream.send_all(UPGRADE)
        raw = b""
        with trio.fail_after(10):
            while b"\r\n\r\n" not in raw:
                raw += await stream.receive_some(65536)
            assert raw.startswith(b"HTTP/1.1 101 ") and b"permessage-deflate" in raw, raw
            await stream.send_all(frames)
            raw = raw.partition(b"\r\n\r\n")[2]
            while CLOSE_TOO_BIG not in raw and (chunk := await stream.receive_some(65536)):
                raw += chunk
        return raw


async def test_httpd_websocket_compressed_bomb_is_closed_without_inflating_it() -> None:
    """64 MiB of zeros in a 64 KiB message: 1009, and no more than the limit inflated."""
    bomb = _frame(_deflated_zeros(64), compressed=True)
    assert len(bomb) < 128 * 1024
    async with serving(_app, websocket_max_message=LIMIT) as port:
        tracemalloc.start()
        try:
            raw = await _send_and_read_close(port, bomb)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert CLOSE_TOO_BIG in raw
    assert peak < 8 * LIMIT, f"{peak / 2**20:.1f} MiB held at the peak"


async def test_httpd_websocket_many_small_compressed_messages_are_inflated_one_by_one() -> None:
    """Each message is under the limit, all of them arrive in one read: the server
    inflates and hands them over one after another, not all at once."""
    count = 48
    received = trio.Semaphore(0)

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            raise RuntimeError("no lifespan here")
        await receive()
        await send({"type": "websocket.accept"})
        while (await receive())["type"] == "websocket.receive":
            received.release()

    message = _frame(_deflated_zeros(1), compressed=True)  # 1 MiB in about 1 KiB
    async with serving(app, websocket_max_message=2 * LIMIT) as port:
        tracemalloc.start()
        try:
            stream = await trio.open_tcp_stream("127.0.0.1", port)
            async with stream:
                await stream.send_all(UPGRADE)
                with trio.fail_after(10):
                    assert (await stream.receive_some(65536)).startswith(b"HTTP/1.1 101 ")
                    await stream.send_all(message * count)
                    for _ in range(count):
                        await received.acquire()
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert peak < 16 * LIMIT, f"{peak / 2**20:.1f} MiB held at the peak"
