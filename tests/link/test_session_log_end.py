"""A log request waiting for its node ends when the node's link does, not at its timeout.

A tail waits up to 30 s for its node (``TAIL_TIMEOUT``) and a follow checks its link
every 0.5 s: both are longer than a client should wait to hear that the link is gone. A
session that ends hands every log request still open a :class:`LinkClosed`, so the
request ends at once, saying how the link closed, and never as a node's refusal (which
the API answers with 409).

A real session over a real link; the node, played by the test, withholds its answers.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import trio

from symphony.actors import spawn
from symphony.conductor.api.logfeed import LogFeed
from symphony.conductor.api.routes_logs import TAIL_TIMEOUT
from symphony.conductor.nodes.model import CloseSession, GetSession
from symphony.conductor.nodes.registry import NodeRegistry
from symphony.wire import PROTOCOL_VERSION, Hello, LogRequest, client_hello, connect_to_conductor
from tests.link.test_session_send import serve_sessions
from tests.test_wire_support import make_pki, node_files


@asynccontextmanager
async def _linked(tmp_path: Path) -> AsyncIterator[tuple[Any, Any]]:
    """Node ``n1``'s link (of this protocol version: it serves logs by time) and its
    session's ref."""
    pki = make_pki(tmp_path)
    async with trio.open_nursery() as nursery:
        registry = await spawn(nursery, NodeRegistry())
        port = await serve_sessions(nursery, pki, registry)
        ctx = node_files(pki, tmp_path / "node", "n1").context()
        async with connect_to_conductor("127.0.0.1", port, ctx, timeout=5) as conn:
            hello = Hello(protocol_version=PROTOCOL_VERSION, node_id="n1")
            await client_hello(conn, hello, timeout=5)
            while (session := await registry.ask(GetSession("n1"))) is None:
                await trio.sleep(0.01)
            yield conn, session
        nursery.cancel_scope.cancel()


async def _read(feed: LogFeed, *, idle: float) -> list[bytes]:
    return [data async for data in feed.chunks(idle=idle, stop=trio.Event())]


async def test_requests_waiting_for_a_node_end_when_its_link_closes(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    async with _linked(tmp_path) as (conn, session):
        tail = LogFeed(session, "i-1", stream="stdout", tail=10, follow=False)
        by_time = LogFeed(
            session, "i-1", stream="stdout", tail=10, follow=False, since_ns=1, timestamps=True
        )
        follow = LogFeed(session, "i-1", stream="stdout", tail=10, follow=True)
        got: dict[str, tuple[float, list[bytes]]] = {}

        async def read(name: str, feed: LogFeed, idle: float) -> None:
            async with feed:
                got[name] = (0.0, await _read(feed, idle=idle))
            got[name] = (trio.current_time(), got[name][1])

        async with trio.open_nursery() as nursery:
            nursery.start_soon(read, "tail", tail, TAIL_TIMEOUT)
            nursery.start_soon(read, "by_time", by_time, TAIL_TIMEOUT)
            nursery.start_soon(read, "follow", follow, 0.5)
            asked: list[Any] = []
            with trio.fail_after(5):  # the node has them all (perhaps in one frame)
                while len(asked) < 3:
                    received = await conn.receive()
                    asked += received if isinstance(received, list) else [received]
            assert all(isinstance(m, LogRequest) for m in asked)  # and answers none
            closed_at = trio.current_time()
            await session.tell(CloseSession("node declared lost: no heartbeat"))
        for name in ("tail", "by_time", "follow"):
            assert got[name][0] - closed_at < 0.1, name  # at once: not at 30 s, nor 0.5 s
        reason = "the link to node 'n1' closed (node declared lost: no heartbeat)"
        for feed in (tail, by_time, follow):
            assert feed.ended and feed.link_closed == reason
            assert feed.refused is None  # the node refused nothing: no 409
        assert got["follow"][1] == [
            f"[symphony] {reason}; follow again once it reconnects\n".encode()
        ]


async def test_a_request_to_a_session_that_just_ended_ends_at_once(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    async with _linked(tmp_path) as (_, session):
        await session.tell(CloseSession("node declared lost: no heartbeat"))
        feed = LogFeed(session, "i-1", stream="stdout", tail=10, follow=False)
        started = trio.current_time()
        async with feed:
            await _read(feed, idle=TAIL_TIMEOUT)
        assert trio.current_time() - started < 0.1
        assert feed.link_closed == "the node's link closed" and feed.refused is None
