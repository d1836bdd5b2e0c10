"""Sends on one WebSocket take turns in the order they came, on both ends of a link.

A node sends log frames one after another while its heartbeats and statuses must get
through between them; a Conductor sends starts from several tasks. The WebSocket lines
its senders up without a lock per link (see ``symphony.wire.websocket._Turn``): here a
stream that takes a (virtual) second per write shows the order the frames went out in,
and that no two writes overlapped.
"""

from __future__ import annotations

import trio
import trio.testing

from symphony.wire.websocket import WebSocket


class SlowWrites(trio.abc.Stream):
    """Each write takes a second; it remembers what was written and never overlaps."""

    def __init__(self) -> None:
        self.written: list[bytes] = []
        self.busy = False

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        assert not self.busy, "two writes at once: frames would interleave"
        self.busy = True
        try:
            await trio.sleep(1.0)
            self.written.append(bytes(data))
        finally:
            self.busy = False

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def aclose(self) -> None:
        await trio.lowlevel.checkpoint()


async def test_a_sender_in_a_loop_lets_one_that_waits_go_first(
    autojump_clock: trio.testing.MockClock,
) -> None:
    stream = SlowWrites()
    ws = WebSocket(stream, max_message_size=1024)  # a server's: frames unmasked
    waiting = trio.CancelScope()

    async def loop() -> None:
        for i in range(3):
            await ws.send_message(b"log%d" % i)

    async def gives_up() -> None:
        with waiting:
            await ws.send_message(b"never")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(loop)
        await trio.sleep(0.5)  # log0 is going out
        nursery.start_soon(gives_up)
        await trio.sleep(0.1)
        nursery.start_soon(ws.send_message, b"beat")
        await trio.sleep(0.1)
        waiting.cancel()  # leaves the line while log0 still goes out
    # The heartbeat went as soon as log0 was out, before the loop's next frames.
    assert [frame[2:] for frame in stream.written] == [b"log0", b"beat", b"log1", b"log2"]
    assert ws._last is None  # nothing kept once the line is empty


async def test_a_last_sender_that_gives_up_leaves_the_line_to_the_one_writing(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """The last in line cancelled while the one before it writes: a send that comes
    then waits for that write (it went at once, and two writes overlapped)."""
    stream = SlowWrites()
    ws = WebSocket(stream, max_message_size=1024)
    waiting = trio.CancelScope()

    async def gives_up() -> None:
        with waiting:
            await ws.send_message(b"never")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ws.send_message, b"first")
        await trio.sleep(0.2)  # first is going out
        nursery.start_soon(gives_up)
        await trio.sleep(0.1)
        waiting.cancel()  # the last in line leaves
        await trio.sleep(0.1)
        nursery.start_soon(ws.send_message, b"after")
    assert [frame[2:] for frame in stream.written] == [b"first", b"after"]
    assert ws._last is None
