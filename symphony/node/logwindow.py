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
  frame (64 KiB), never behind every follower's.

A request without a window (a version-1 Conductor) is sent as fast as the link takes it.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

import trio

from symphony.wire import ConnectionClosed, LogChunk, LogRequest, WireConnection

#: Seconds one log frame may take to go out once begun, cancelled or not.
FRAME_LIMIT = 10.0


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
            async with self._bulk:
                # A frame begun is finished: cancelled half-way (a LogCancel, the
                # client left), it would leave the link's TLS stream broken, and the
                # link closed with every other request on it. Bounded: a link that
                # takes no frame for that long is lost anyway.
                limit = trio.current_time() + FRAME_LIMIT
                with trio.CancelScope(shield=True, deadline=limit) as sending:
                    await self.conn.send(chunk)
                if sending.cancelled_caught:  # cut after all: the link cannot go on
                    raise ConnectionClosed(1006, f"a log frame took over {FRAME_LIMIT:g} s")

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
