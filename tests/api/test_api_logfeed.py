"""LogFeed against a stand-in session actor: the sink, the request, the cancel on close."""

from __future__ import annotations

from typing import Any

import trio

from symphony.actors import Actor, spawn
from symphony.conductor.api.logfeed import BUFFER_CHUNKS, LogFeed
from symphony.wire import LogCancel, LogChunk, LogRequest


class RecordingSession(Actor):
    """Stands in for a NodeSession: records what it is told, keeps the sinks."""

    def __init__(self) -> None:
        super().__init__()
        self.told: list[Any] = []
        self.sinks: dict[str, Any] = {}

    async def receive(self, message: Any) -> Any:
        self.told.append(message)
        if isinstance(message, tuple) and message[0] == "logs":
            self.sinks[message[1]] = message[2]
        elif isinstance(message, tuple) and message[0] == "logs_done":
            self.sinks.pop(message[1], None)
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
        assert told[-2:] == [LogCancel(request_id=rid), ("logs_done", rid)]
        assert session.sinks == {}
        nursery.cancel_scope.cancel()


async def test_logfeed_counts_what_a_slow_reader_loses() -> None:
    session = RecordingSession()
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, session, name="session")
        async with LogFeed(ref, "i-1", stream="stdout", tail=0, follow=False) as feed:
            await ref.ask("sync")
            sink = session.sinks[feed.request.request_id]
            rid = feed.request.request_id
            for _ in range(BUFFER_CHUNKS + 3):
                sink(LogChunk(request_id=rid, data=b"x\n"))
            assert feed.dropped == 3
            out: list[bytes] = []
            stop = trio.Event()
            async for data in feed.chunks(idle=0.01, stop=stop):
                out.append(data)
                if len(out) == BUFFER_CHUNKS + 1:
                    stop.set()  # everything buffered, and the note, were read
            assert b"3 log chunk(s) dropped" in out[0]  # said at once, not at the end
            assert out.count(b"x\n") == BUFFER_CHUNKS
        await ref.ask("sync")
        assert not any(isinstance(m, LogCancel) for m in session.told)  # not following
        nursery.cancel_scope.cancel()
