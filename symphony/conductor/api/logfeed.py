"""LogFeed: one log request to a node, from the API's side of its NodeSession.

The node holds the log files; the Conductor only relays. A feed registers a sink on the
node's session (``("logs", request_id, sink)``), sends a :class:`LogRequest`, and
receives the :class:`LogChunk` s the session routes to that sink, until one says
``eof``. Closing the feed sends :class:`LogCancel` (the node stops following) and
unregisters the sink.

The sink runs in the session's reader task, which must never block (heartbeats and
statuses share it), so it only ``send_nowait`` s into a bounded buffer. A reader slower
than the job's output loses chunks rather than stalling the node link; the loss is
counted and reported in the stream, never silent.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import trio

from symphony.actors import ActorRef, ActorStopped, MailboxFull
from symphony.wire import LogCancel, LogChunk, LogRequest

from ..store import new_id

#: Chunks held for a slow reader (the node sends at most 256 KiB per chunk).
BUFFER_CHUNKS = 256


class LogFeed:
    """Chunks of one instance's stdout or stderr; use as ``async with``."""

    def __init__(
        self, session: ActorRef, instance_id: str, *, stream: str, tail: int, follow: bool
    ) -> None:
        self.session = session
        self.request = LogRequest(
            request_id=new_id("log"),
            instance_id=instance_id,
            stream=stream,  # type: ignore[arg-type]  # checked by the route
            tail=tail,
            follow=follow,
        )
        self.dropped = 0
        self.ended = False
        self._send, self._receive = trio.open_memory_channel[LogChunk](BUFFER_CHUNKS)

    def _sink(self, chunk: LogChunk) -> None:
        try:
            self._send.send_nowait(chunk)
        except trio.WouldBlock:
            self.dropped += 1
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass  # the feed is closed: a late chunk

    async def __aenter__(self) -> LogFeed:
        rid = self.request.request_id
        # The sink first: the node may answer before a second tell would be processed.
        await self.session.tell(("logs", rid, self._sink))
        await self.session.tell(self.request)
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
            await self.session.tell(("logs_done", rid))

    async def next_chunk(self, timeout: float) -> LogChunk | None:
        """The next chunk, or ``None`` if none came within ``timeout`` seconds."""
        with trio.move_on_after(timeout):
            try:
                chunk = await self._receive.receive()
            except trio.EndOfChannel:
                self.ended = True
                return LogChunk(request_id=self.request.request_id, eof=True)
            if chunk.eof:
                self.ended = True
            return chunk
        return None

    async def chunks(self, *, idle: float, stop: trio.Event) -> AsyncIterator[bytes]:
        """Bytes as they come, until ``eof``, ``stop`` is set, or the node's link ends.

        ``idle`` is how often a quiet stream checks the other two.
        """
        reported = 0
        while not self.ended:
            chunk = await self.next_chunk(idle)
            if self.dropped > reported:
                yield _note(f"{self.dropped - reported} log chunk(s) dropped: reading too slowly")
                reported = self.dropped
            if chunk is None:
                if stop.is_set():
                    return
                if not self.session.alive:
                    yield _note("the node's link closed; follow again once it reconnects")
                    return
                continue
            if chunk.data:
                yield chunk.data
            if chunk.reason:
                yield _note(chunk.reason)


def _note(text: str) -> bytes:
    """A line from Symphony itself inside a log stream (marked so nobody mistakes it)."""
    return f"[symphony] {text}\n".encode()
