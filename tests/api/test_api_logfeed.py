"""LogFeed against a stand-in session actor: the sink, the request, the cancel on close."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any

import trio

from symphony.actors import Actor, spawn
from symphony.conductor.api.logfeed import BUFFER_BYTES, CHUNK_COST, WINDOW, LogFeed
from symphony.conductor.nodes.model import CloseLogStream, OpenLogStream
from symphony.wire import LogCancel, LogChunk, LogCredit, LogRequest


class RecordingSession(Actor):
    """Stands in for a NodeSession: records what it is told, keeps the sinks."""

    def __init__(self) -> None:
        super().__init__()
        self.told: list[Any] = []
        self.sinks: dict[str, Any] = {}

    async def receive(self, message: Any) -> Any:
        self.told.append(message)
        if isinstance(message, OpenLogStream):
            self.sinks[message.request_id] = message.sink
        elif isinstance(message, CloseLogStream):
            self.sinks.pop(message.request_id, None)
        return None


async def test_logfeed_follow_sends_cancel_when_the_reader_leaves() -> None:
    session = RecordingSession()
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, session, name="session")
        feed = LogFeed(ref, "i-1", stream="stderr", tail=5, follow=True)
        rid = feed.request.request_id
        async with feed:
            await ref.ask("sync")  # the mailbox is in order: the sink and request are in
            request = [m for m in session.told if m != "sync"][1]
            assert isinstance(request, LogRequest)
            assert (request.instance_id, request.stream, request.tail, request.follow) == (
                "i-1", "stderr", 5, True,
            )  # fmt: skip
            session.sinks[rid](LogChunk(request_id=rid, data=b"a\n"))
            got = []
            with trio.CancelScope() as scope:
                async for data in feed.chunks(idle=0.01, stop=trio.Event()):
                    got.append(data)
                    scope.cancel()  # the HTTP client goes away
            assert got == [b"a\n"]
        await ref.ask("sync")
        told = [m for m in session.told if m != "sync"]
        assert told[-2:] == [LogCancel(request_id=rid), CloseLogStream(rid)]
        assert session.sinks == {}
        nursery.cancel_scope.cancel()


async def test_logfeed_grants_credit_as_its_reader_consumes() -> None:
    session = RecordingSession()
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, session, name="session")
        async with LogFeed(ref, "i-1", stream="stdout", tail=0, follow=True) as feed:
            assert feed.request.window == WINDOW
            await ref.ask("sync")
            rid = feed.request.request_id
            sink = session.sinks[rid]
            for _ in range(WINDOW // len(CHUNK)):  # the node sends one window
                sink(LogChunk(request_id=rid, data=CHUNK))
            await ref.ask("sync")
            assert not _credits(session)  # nothing read yet: nothing granted
            taken = 0
            async with aclosing(feed.chunks(idle=0.01, stop=trio.Event())) as chunks:
                async for data in chunks:
                    taken += len(data)
                    if taken == WINDOW // 2:
                        break
            await ref.ask("sync")
            assert sum(c.bytes for c in _credits(session)) == WINDOW // 2  # what was read
        nursery.cancel_scope.cancel()


async def test_logfeed_bounds_a_node_that_ignores_the_window_and_counts_lines() -> None:
    session = RecordingSession()
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, session, name="session")
        async with LogFeed(ref, "i-1", stream="stdout", tail=0, follow=False) as feed:
            await ref.ask("sync")
            sink = session.sinks[feed.request.request_id]
            rid = feed.request.request_id
            fits = BUFFER_BYTES // (len(CHUNK) + CHUNK_COST)
            for _ in range(fits + 3):  # a version-1 node sends what it likes
                sink(LogChunk(request_id=rid, data=CHUNK))
            assert feed.dropped == 3 * CHUNK.count(b"\n")
            out: list[bytes] = []
            stop = trio.Event()
            async for data in feed.chunks(idle=0.01, stop=stop):
                out.append(data)
                if len(out) == fits + 1:
                    stop.set()  # everything buffered, and the note, were read
            assert out[0] == b"[symphony] 192 lines dropped: reading too slowly\n"  # at once
            assert out[1:] == [CHUNK] * fits
        await ref.ask("sync")
        assert not any(isinstance(m, LogCancel) for m in session.told)  # not following
        nursery.cancel_scope.cancel()


async def test_logfeed_bounds_tiny_chunks_by_their_number_too() -> None:
    """A node answering with chunks of one line of one byte (or of nothing), as fast as
    it can: they are counted with what holding each costs, so the feed keeps at most
    BUFFER_BYTES / CHUNK_COST of them, not a million (it kept every one: their bytes
    alone never filled the buffer)."""
    session = RecordingSession()
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, session, name="session")
        async with LogFeed(ref, "i-1", stream="stdout", tail=0, follow=True) as feed:
            await ref.ask("sync")
            rid = feed.request.request_id
            sink = session.sinks[rid]
            for _ in range(100_000):
                sink(LogChunk(request_id=rid, data=b"\n"))
                sink(LogChunk(request_id=rid))
            kept = 100_000 - feed.dropped  # of the one-line chunks
            assert 0 < kept < BUFFER_BYTES // CHUNK_COST, kept
        nursery.cancel_scope.cancel()


CHUNK = (b"x" * 1023 + b"\n") * 64  # 64 KiB, 64 lines


def _credits(session: RecordingSession) -> list[LogCredit]:
    return [m for m in session.told if isinstance(m, LogCredit)]
