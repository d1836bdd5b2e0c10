"""Log streams on the node's link: per-request windows, and a lane that control never waits behind.

Followed logs share the one WebSocket with heartbeats, statuses and start/stop. Two
rules keep them from getting in the way (as yamux streams do for Nomad):

- **A window per request.** The Conductor's :class:`~symphony.wire.LogRequest` carries a
  ``window`` (bytes); the node sends a request's data only while it has credit, and the
  Conductor grants credit back (:class:`~symphony.wire.LogCredit`) as its reader
  consumes. A reader that stops reading stops its own stream after one window and
  costs the link nothing more; the node-side follower then drops its oldest lines
  (see :mod:`symphony.node.logserve`).
- **A frame begun is finished.** A request cancelled while its frame goes out
  (``LogCancel``: the reader left) ends after that frame, not inside it: a frame cut
  half-way breaks the TLS stream, and with it the link (a hundred followers dropped at
  once closed it nearly every time).
- **One bulk frame at a time.** Log frames take turns on a lock of their own before the
  connection's send lock, so a heartbeat or a status waits behind at most one log
  frame, never behind every follower's.
- **Frames sized to the uplink.** A frame's own sending is timed (the bulk lane's wait
  is not counted; a heartbeat or status already going out on the connection is, as it
  shares the link's send lock: a few hundred bytes), and the next frame is cut to what
  the link carried in :data:`FRAME_TARGET` seconds (between :data:`MIN_FRAME` and
  :data:`MAX_FRAME`; the first of a session is :data:`FIRST_FRAME`). So a heartbeat
  waits behind a log frame about :data:`FRAME_TARGET` (2 s) on any uplink, and never
  longer than :data:`FRAME_LIMIT` (10 s, when the frame is cut and the link with it);
  the Conductor declares a node lost after 5 heartbeat intervals (15 s at the default
  3 s). A slow but live uplink keeps its link: a fixed 64 KiB frame took over 10 s below
  6.5 KB/s, and ended it. The bytes the kernel's socket buffer already holds are not
  counted: on a real link a heartbeat also waits behind those.

A request without a window (a version-1 Conductor) is sent as fast as the link takes it.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import replace

import trio

from symphony.wire import ConnectionClosed, LogChunk, LogRequest, WireConnection

#: Seconds one log frame may take to go out once begun, cancelled or not.
FRAME_LIMIT = 10.0
#: Seconds one log frame is sized to take at the uplink rate last measured.
FRAME_TARGET = 2.0
#: Bytes of log data in one frame: the smallest, the largest, and a session's first
#: (small enough to go out within FRAME_TARGET at 4 KB/s before anything was measured).
MIN_FRAME = 1024
MAX_FRAME = 64 * 1024
FIRST_FRAME = 8 * 1024


class Window:
    """Credit for one log request (bytes the node may still send)."""

    def __init__(self, size: int | None) -> None:
        self.credit: float = math.inf if size is None else size
        self._changed = trio.Event()

    def grant(self, count: int) -> None:
        self.credit += count
        self._changed.set()
        self._changed = trio.Event()

    async def spend(self, count: int) -> None:
        """Wait until there is credit, then take ``count`` (it may go below zero by
        less than one chunk: a chunk is never split to fit)."""
        while self.credit <= 0:
            await self._changed.wait()
        self.credit -= count


class LogRequests:
    """The log requests of one link session: cancel scopes, windows and the bulk lane."""

    def __init__(self, conn: WireConnection) -> None:
        self.conn = conn
        self._scopes: dict[str, trio.CancelScope] = {}
        self._windows: dict[str, Window] = {}
        self._bulk = trio.Lock()  # FIFO: followers take turns, control frames skip it
        #: Bytes of log data the next frame carries (see "Frames sized to the uplink").
        self.frame_bytes = FIRST_FRAME

    async def _send_frame(self, chunk: LogChunk) -> None:
        """Send one frame whole (the caller holds the bulk lane), timing its own sending."""
        # A frame begun is finished: cancelled half-way (a LogCancel, the client left),
        # it would leave the link's TLS stream broken, and the link closed with every
        # other request on it. Bounded: a link that takes no frame for that long is
        # lost anyway.
        began = trio.current_time()
        with trio.CancelScope(shield=True, deadline=began + FRAME_LIMIT) as sending:
            await self.conn.send(chunk)
        if sending.cancelled_caught:  # cut after all: the link cannot go on
            raise ConnectionClosed(1006, f"a log frame took over {FRAME_LIMIT:g} s")
        took = trio.current_time() - began
        if len(chunk.data) >= MIN_FRAME:  # a short frame's time says little of the rate
            fits = len(chunk.data) * FRAME_TARGET / max(took, 1e-3)
            self.frame_bytes = int(min(MAX_FRAME, max(MIN_FRAME, fits)))

    def cancel(self, request_id: str) -> None:
        scope = self._scopes.pop(request_id, None)
        if scope is not None:
            scope.cancel()

    def credit(self, request_id: str, count: int) -> None:
        window = self._windows.get(request_id)
        if window is not None:  # a late credit for a finished request is harmless
            window.grant(count)

    @asynccontextmanager
    async def serving(
        self, request: LogRequest
    ) -> AsyncIterator[Callable[[LogChunk], Awaitable[None]]]:
        """Register ``request``; yield its ``send``; leave when it ends or is cancelled."""
        rid = request.request_id
        window = Window(request.window)

        async def send(chunk: LogChunk) -> None:
            if chunk.data:
                await window.spend(len(chunk.data))
            data, start = chunk.data, 0
            while True:  # frames of frame_bytes; the last carries eof and reason
                async with self._bulk:
                    piece = data[start : start + self.frame_bytes]
                    start += len(piece)
                    if start < len(data):
                        await self._send_frame(LogChunk(request_id=rid, data=piece))
                    else:
                        await self._send_frame(replace(chunk, data=piece) if start else chunk)
                        return

        with trio.CancelScope() as scope:
            self._scopes[rid] = scope
            self._windows[rid] = window
            try:
                yield send
            finally:
                if self._scopes.get(rid) is scope:
                    del self._scopes[rid]
                if self._windows.get(rid) is window:
                    del self._windows[rid]
