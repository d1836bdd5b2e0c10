"""Log frames on a slow but live uplink: the link stays, and a heartbeat gets through.

The node's side of a link is its own client WebSocket over a stream whose sends go out
at a few KB per (virtual) second, as on a congested uplink; the Conductor's side (our
server WebSocket) reads everything at once. The log frames are sent by
:class:`~symphony.node.logwindow.LogRequests` as the link's follower tasks send them.
"""

from __future__ import annotations

import trio
import trio.testing

from symphony.node.logwindow import FRAME_LIMIT, LogRequests
from symphony.wire import (
    ConductorConnection,
    ConnectionClosed,
    Heartbeat,
    LogChunk,
    LogRequest,
    decode,
)
from symphony.wire._clientws import connect_websocket
from symphony.wire.websocket import accept_websocket

#: Bytes per second the uplink carries: a 64 KiB frame takes 16 s, over FRAME_LIMIT.
RATE = 4096
PIECE = 512


class SlowUplink(trio.abc.Stream):
    """A stream whose sends leave at :data:`RATE` bytes a second, in pieces of PIECE."""

    def __init__(self, inner: trio.abc.Stream) -> None:
        self.inner = inner

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        view = memoryview(data)
        for start in range(0, len(view), PIECE):
            piece = view[start : start + PIECE]
            await trio.sleep(len(piece) / RATE)
            await self.inner.send_all(piece)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _server(stream: trio.abc.Stream, received: list[tuple[float, object]]) -> None:
    ws, _ = await accept_websocket(stream, path="/node", max_message_size=1 << 22, timeout=5)
    assert ws is not None
    try:
        while True:
            data = await ws.get_message()
            assert isinstance(data, bytes)
            received.append((trio.current_time(), decode(data)))
    except ConnectionClosed:
        pass
    await ws.aclose()


async def test_log_frames_slow_uplink_keeps_link_and_heartbeat_passes(
    autojump_clock: trio.testing.MockClock,
) -> None:
    node_end, conductor_end = trio.testing.memory_stream_pair()
    received: list[tuple[float, object]] = []
    data = bytes(range(256)) * 256  # one 64 KiB read of the log file
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_server, conductor_end, received)
        ws = await connect_websocket(
            SlowUplink(node_end), host="conductor", path="/node", max_message_size=1 << 22
        )
        conn = ConductorConnection(ws, remote="conductor:1", peer_cn="c")
        requests = LogRequests(conn)
        request = LogRequest(request_id="r1", instance_id="i1", follow=True)
        beat_sent: list[float] = []

        async def heartbeat_later() -> None:
            await trio.sleep(1.0)  # the log frame is on its way by then
            beat_sent.append(trio.current_time())
            await conn.send(Heartbeat(seq=1, usage={}))

        nursery.start_soon(heartbeat_later)
        async with requests.serving(request) as send:
            start = trio.current_time()
            await send(LogChunk(request_id="r1", data=data))  # ConnectionClosed on main
            await send(LogChunk(request_id="r1", data=data))
            took = trio.current_time() - start
        await trio.sleep(1.0)
        await ws.aclose()

    chunks = [m for _, m in received if isinstance(m, LogChunk)]
    assert b"".join(c.data for c in chunks) == data * 2  # whole, in order
    # The uplink stays busy: the time is the bytes' own (plus frame headers).
    assert took < 2 * len(data) / RATE * 1.1
    # The heartbeat waited behind one log frame at most, well within FRAME_LIMIT.
    beat_at = next(t for t, m in received if isinstance(m, Heartbeat))
    assert beat_at - beat_sent[0] < FRAME_LIMIT / 2
