"""LogFeed: one log request to a node, from the API's side of its NodeSession.

The node holds the log files; the Conductor only relays. A feed registers a sink on the
node's session (:class:`OpenLogStream`), sends a :class:`LogRequest`, and
receives the :class:`LogChunk` s the session routes to that sink, until one says
``eof``, or until the session ends and hands the sink a :class:`LinkClosed` (then
``link_closed`` says how, and the feed ends at once). Closing the feed sends
:class:`LogCancel` (the node stops following) and unregisters the sink.

Flow control: the request carries a ``window`` of :data:`WINDOW` bytes, and the feed
grants it back (:class:`LogCredit`) as its reader takes data. So the node never sends
more than the reader consumed plus one window: an HTTP client that stops reading stops
its own stream at the node (where the follower drops its oldest lines and says so), and
the Conductor holds at most one window for it.

The sink runs in the session's reader task, which must never block (heartbeats and
statuses share it), so it only appends to a buffer bounded in bytes. Only a node that
ignores the window (protocol version 1) can overflow it: the overflow is dropped,
counted in lines, and reported in the stream as ``[symphony] N lines dropped``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import AsyncGenerator, Callable
from typing import Literal

import trio

from symphony.actors import ActorRef, ActorStopped, MailboxFull
from symphony.wire import LogCancel, LogChunk, LogCredit, LogRequest

from ..nodes.model import CloseLogStream, LinkClosed, OpenLogStream
from ..store import new_id

#: Bytes a node may send ahead of the reader (per request).
WINDOW = 512 * 1024
#: Bytes buffered per feed at most: a window, plus room for a node's last frame beyond
#: it (a frame is never split to fit) and for version-1 nodes that know no window.
BUFFER_BYTES = 2 * WINDOW
#: Bytes each chunk counts for beyond its data (the object that holds it): a node sending
#: chunks of nothing, or of one byte, fills the buffer by their number too.
CHUNK_COST = 64
#: Credit is granted back in steps of this many bytes (fewer, larger LogCredit frames).
CREDIT_STEP = WINDOW // 4


class LogFeed:
    """Chunks of one instance's stdout or stderr; use as ``async with``."""

    def __init__(
        self,
        session: ActorRef,
        instance_id: str,
        *,
        stream: Literal["stdout", "stderr"],
        tail: int,
        follow: bool,
        since_ns: int | None = None,
        timestamps: bool = False,
    ) -> None:
        self.session = session
        self.request = LogRequest(
            request_id=new_id("log"),
            instance_id=instance_id,
            stream=stream,
            tail=tail,
            follow=follow,
            window=WINDOW,
            since_ns=since_ns,
            timestamps=timestamps,
        )
        self.dropped = 0  # lines dropped because the buffer was full
        self.ended = False
        #: Why the request ended before any data (a node too old for it), if it did.
        self.refused: str | None = None
        #: How the node's link closed, if it did before the request ended: the answer
        #: is then incomplete (a tail) or cut short (a follow).
        self.link_closed: str | None = None
        self._received = False
        self._buffered = 0  # bytes in the channel
        self._consumed = 0  # bytes taken by the reader and not yet granted back
        self._send, self._receive = trio.open_memory_channel[LogChunk](math.inf)

    def _sink(self, chunk: LogChunk | LinkClosed) -> None:
        if isinstance(chunk, LinkClosed):
            self._link_closed(chunk.reason)
            return
        if chunk.eof and chunk.reason and not self._received:
            self.refused = chunk.reason
        self._received = True
        cost = len(chunk.data) + CHUNK_COST
        if self._buffered + cost > BUFFER_BYTES and not chunk.eof:
            self.dropped += chunk.data.count(b"\n")
            return
        try:
            self._send.send_nowait(chunk)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            return  # the feed is closed: a late chunk
        self._buffered += cost

    def _link_closed(self, reason: str) -> None:
        """The node's link closed: end the request with a last chunk that says so."""
        self.link_closed = reason
        if self.request.follow:
            reason += "; follow again once it reconnects"
        last = LogChunk(request_id=self.request.request_id, eof=True, reason=reason)
        with contextlib.suppress(trio.ClosedResourceError, trio.BrokenResourceError):
            self._send.send_nowait(last)
            self._buffered += CHUNK_COST

    async def __aenter__(self) -> LogFeed:
        rid = self.request.request_id
        try:
            # The sink first: the node may answer before a second tell would be processed.
            await self.session.tell(OpenLogStream(rid, self._sink))
            await self.session.tell(self.request)
        except ActorStopped:  # the link closed since the session was looked up
            if self.link_closed is None:
                self._link_closed("the node's link closed")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Tell the node to stop (unless it already ended) and drop the sink.

        Runs when the HTTP client goes away, that is under cancellation: shielded, and
        bounded so a stuck session cannot hold the request task.
        """
        self._send.close()
        rid = self.request.request_id
        with (
            trio.CancelScope(shield=True, deadline=trio.current_time() + 2.0),
            contextlib.suppress(ActorStopped, MailboxFull),
        ):
            if not self.ended and self.request.follow:
                await self.session.tell(LogCancel(request_id=rid))
            await self.session.tell(CloseLogStream(rid))

    async def next_chunk(self, timeout: float) -> LogChunk | None:
        """The next chunk, or ``None`` if none came within ``timeout`` seconds."""
        chunk = None
        with trio.move_on_after(timeout):
            try:
                chunk = await self._receive.receive()
            except trio.EndOfChannel:
                self.ended = True
                return LogChunk(request_id=self.request.request_id, eof=True)
        if chunk is None:
            return None
        self._buffered -= len(chunk.data) + CHUNK_COST
        self._consumed += len(chunk.data)
        if chunk.eof:
            self.ended = True
        elif self._consumed >= CREDIT_STEP:
            await self._grant()  # outside the timeout: a taken chunk is never lost
        return chunk

    async def _grant(self) -> None:
        count, self._consumed = self._consumed, 0
        credit = LogCredit(request_id=self.request.request_id, bytes=count)
        with contextlib.suppress(ActorStopped):
            await self.session.tell(credit)

    async def chunks(
        self, *, idle: float, stop: trio.Event, until: Callable[[], bool] | None = None
    ) -> AsyncGenerator[bytes, None]:
        """Bytes as they come, until ``eof``, ``stop`` is set, the node's link ends, or
        ``until()`` is true.

        ``idle`` is how often a quiet stream checks the others. ``until`` (the instance
        has ended) ends the stream only after two quiet checks in a row, so output the
        job wrote just before it ended, still on its way from the node, is not cut off.
        """
        reported = 0
        quiet_since_done = 0
        while not self.ended:
            chunk = await self.next_chunk(idle)
            if self.dropped > reported:
                yield _note(f"{self.dropped - reported} lines dropped: reading too slowly")
                reported = self.dropped
            if chunk is None:
                if stop.is_set():
                    return
                if not self.session.alive:
                    yield _note("the node's link closed; follow again once it reconnects")
                    return
                if until is not None and until():
                    quiet_since_done += 1
                    if quiet_since_done >= 2:
                        return
                continue
            quiet_since_done = 0
            if chunk.data:
                yield chunk.data
            if chunk.reason:
                yield _note(chunk.reason)


def _note(text: str) -> bytes:
    """A line from Symphony itself inside a log stream (marked so nobody mistakes it)."""
    return f"[symphony] {text}\n".encode()
