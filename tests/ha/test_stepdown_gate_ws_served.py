"""The gate ends WebSockets on the real server, whatever the app's send was doing then.

The gate once skipped its close frame whenever the app's last send had not returned,
taking that for a frame cut half-way. But a send cancelled before any byte of it went
out (its task woke as the scope was cancelled; it waited for the socket or for another
task's write) leaves the stream at a frame boundary: the close fits there, and the
client was owed it. The server knows how far a cancelled send got (nothing, or part of
its frame); a frame cut half-way breaks the socket, and nothing is written after it.

Each test runs the server (``symphony.httpd``) on 127.0.0.1 with the gate in front of
an app of its own, and a client that sees what went over the wire.
"""

from __future__ import annotations

import contextlib
import socket
import struct
from typing import Any

import pytest
import trio
import trio.testing
import trio_websocket

from symphony.cli._websocket import open_websocket
from symphony.conductor.api.stepdown import (
    CLOSE_STEPPED_DOWN,
    CLOSE_STOPPING,
    STOPPED,
    STOPPING_WHY,
    StepDownGate,
)
from symphony.httpd import Scope

from ..httpd.helpers import serving

UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
#: Far more than the socket buffers of both ends hold: its send is cut half-way.
HUGE = 64 * 1024 * 1024


class Held:
    """An app that waits for :attr:`go` before it accepts (``accept_first=False``) or
    before its next send after the accept, and tells when it waits (:attr:`waiting`)."""

    def __init__(self, *, accept_first: bool) -> None:
        self.accept_first = accept_first
        self.waiting = trio.Event()
        self.go = trio.Event()

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        if self.accept_first:
            await send({"type": "websocket.accept"})
        self.waiting.set()
        await self.go.wait()
        if not self.accept_first:
            await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": "late"})
        await trio.sleep_forever()


def _end(gate: StepDownGate, stop: bool) -> None:
    gate.stop() if stop else gate.step_down()


@pytest.mark.parametrize("stop", [False, True], ids=["step-down", "stop"])
async def test_a_send_cancelled_before_it_wrote_anything_still_gets_the_close(stop: bool) -> None:
    app = Held(accept_first=True)
    gate = StepDownGate(commits=lambda: 0, app=app)
    async with serving(gate) as port, open_websocket(f"ws://127.0.0.1:{port}/ws") as ws:
        with trio.fail_after(30):
            await app.waiting.wait()
        # In one step: the app wakes to send with its scope cancelled already, so its
        # send is cancelled before a byte of it is written.
        app.go.set()
        _end(gate, stop)
        got: list[str | bytes] = []
        with trio.fail_after(30), contextlib.suppress(trio_websocket.ConnectionClosed):
            while True:
                got.append(await ws.get_message())
        assert got == []  # the app's message was cancelled whole
        assert ws.closed is not None
        assert ws.closed.code == (CLOSE_STOPPING if stop else CLOSE_STEPPED_DOWN), ws.closed
        assert ws.closed.reason == (STOPPING_WHY if stop else STOPPED)


async def test_the_apps_own_close_cancelled_before_it_went_out_still_goes_out() -> None:
    """The app closes the socket as the gate ends it: its close, cancelled before a
    byte of it went out, is the one the client gets (not a 1006 a second later)."""
    waiting, go = trio.Event(), trio.Event()

    async def closing(scope: Scope, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        waiting.set()
        await go.wait()
        await send({"type": "websocket.close", "code": 4000, "reason": "the app's"})
        await trio.sleep_forever()

    gate = StepDownGate(commits=lambda: 0, app=closing)
    async with serving(gate) as port, open_websocket(f"ws://127.0.0.1:{port}/ws") as ws:
        with trio.fail_after(30):
            await waiting.wait()
        go.set()  # in one step: the app's close is cancelled before a byte of it is written
        gate.stop()
        with trio.fail_after(30), contextlib.suppress(trio_websocket.ConnectionClosed):
            while True:
                await ws.get_message()
        assert ws.closed is not None
        assert (ws.closed.code, ws.closed.reason) == (4000, "the app's"), ws.closed


async def test_an_accept_cancelled_before_its_answer_went_out_gets_the_gates_503() -> None:
    app = Held(accept_first=False)
    gate = StepDownGate(commits=lambda: 0, app=app)
    refusals: list[trio_websocket.ConnectionRejected] = []
    async with serving(gate) as port, trio.open_nursery() as nursery:

        async def visit() -> None:
            try:
                async with open_websocket(f"ws://127.0.0.1:{port}/ws", connect_timeout=30):
                    raise AssertionError("accepted after the stop")
            except trio_websocket.ConnectionRejected as refused:
                refusals.append(refused)

        nursery.start_soon(visit)
        with trio.fail_after(30):
            await app.waiting.wait()
        app.go.set()  # the accept comes with the scope cancelled: no 101 goes out
        gate.stop()
    [refused] = refusals
    assert refused.status_code == 503, refused
    assert dict(refused.headers or [])[b"x-symphony-role"] == b"stopping"
    assert b"nothing was applied" in (refused.body or b"")


#: A text frame, "x": what the flooding app sends.
SMALL = b"\x81\x01x"


async def test_a_send_waiting_for_room_with_nothing_of_it_out_still_gets_the_close() -> None:
    """The client reads nothing for a while (a slow visitor): the app's next message
    waits for room. Once the client reads again, the close follows the messages it took.

    That holds when none of the waiting frame went out. The kernel may take part of even
    a 3-byte frame as its buffer fills (on loopback, Linux 6.18 took 1 or 2 bytes of the
    frame that found it full in 10 fills of 200 once, in none of 200 another time): then
    that frame is cut, and nothing follows it (as for the frame cut half-way below). A
    run that ends so is tried again, a few times."""
    for _ in range(5):
        frames = await _flood_then_stop()
        count = 0
        while frames.startswith(SMALL, 3 * count):
            count += 1
        assert count > 100, count  # it waited for room
        rest = frames[3 * count :]  # right after the last whole message
        if rest in (SMALL[:1], SMALL[:2]):
            continue  # a frame cut (its first bytes out): nothing after it, as it must
        assert rest[:1] == b"\x88", rest[:16]  # the close, whole
        assert struct.unpack("!H", rest[2:4]) == (CLOSE_STOPPING,)
        assert rest[4:] == STOPPING_WHY.encode()
        return
    raise AssertionError("each time, the kernel took part of the frame that filled it")


async def _flood_then_stop() -> bytes:
    """The frames a client with a small buffer got from an app sending without end,
    stopped once the app's send waits for room (the client reading only then)."""
    flooding = trio.Event()

    async def flood(scope: Scope, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        flooding.set()
        while True:
            await send({"type": "websocket.send", "text": "x"})

    gate = StepDownGate(commits=lambda: 0, app=flood)
    async with serving(gate) as port:
        sock = trio.socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # fills soon
        await sock.connect(("127.0.0.1", port))
        async with trio.SocketStream(sock) as client:
            await client.send_all(UPGRADE)
            with trio.fail_after(30):
                await flooding.wait()
                await trio.testing.wait_all_tasks_blocked()  # the app's send waits
            gate.stop()
            received = await _read_to_the_end(client)
    head, _, frames = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 "), head
    return frames


async def _read_to_the_end(client: trio.SocketStream) -> bytes:
    received = bytearray()
    with trio.fail_after(60):
        while chunk := await client.receive_some(1 << 20):
            received += chunk
    return bytes(received)


async def test_a_frame_cut_half_way_is_followed_by_nothing() -> None:
    sending = trio.Event()

    async def flood(scope: Scope, receive: Any, send: Any) -> None:
        assert (await receive())["type"] == "websocket.connect"
        await send({"type": "websocket.accept"})
        sending.set()
        await send({"type": "websocket.send", "bytes": b"x" * HUGE})
        raise AssertionError("a client that reads nothing took it all")

    gate = StepDownGate(commits=lambda: 0, app=flood)
    async with serving(gate) as port:
        client = await trio.open_tcp_stream("127.0.0.1", port)
        async with client:
            await client.send_all(UPGRADE)
            with trio.fail_after(30):
                await sending.wait()
                # Reading nothing: the send waits, part of its frame out, for room.
                await trio.testing.wait_all_tasks_blocked()
            gate.stop()
            received = await _read_to_the_end(client)
    head, _, frames = received.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 101 "), head
    # One binary frame, its 64-bit length, then its payload: the frame cut short and
    # nothing after it (a close frame there would be read as payload).
    assert frames[:2] == b"\x82\x7f"
    assert struct.unpack("!Q", frames[2:10]) == (HUGE,)
    payload = frames[10:]
    assert 0 < len(payload) < HUGE
    assert payload.count(b"x") == len(payload), payload[-16:]
