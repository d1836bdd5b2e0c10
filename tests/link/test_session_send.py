"""A message the Conductor cannot encode fails that one send, never the node's link.

A spec string holding a lone surrogate once crashed the node's session on every
reconnect (msgpack refuses to encode it), so the node went lost and its other jobs were
replaced. The API now refuses such text, but whatever still reaches a session (an old
store row, a bug) must fail only itself: a log line, and a refused start is reported as
a failed instance.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import trio

from symphony.actors import Actor, spawn
from symphony.conductor.deployments.instances import job_spec
from symphony.conductor.nodes.model import (
    GetSession,
    InstancesReported,
    ListNodes,
    OpenLogStream,
    RegisterNode,
)
from symphony.conductor.nodes.registry import NodeRegistry
from symphony.conductor.nodes.session import run_session
from symphony.pki import server_ssl_context
from symphony.spec import parse_spec
from symphony.wire import (
    Hello,
    JobConfig,
    LogChunk,
    LogRequest,
    StartInstance,
    StopInstance,
    client_hello,
    connect_to_conductor,
    serve_nodes,
)
from tests.test_wire_support import make_pki, node_files


class Recorder(Actor):
    """A registry subscriber that remembers what it was told."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Any] = []

    async def receive(self, message: Any) -> Any:
        self.seen.append(message)


JOB = job_spec(parse_spec({"config": {"command": ["true"]}}))


def start(instance_id: str, command: list[str]) -> StartInstance:
    return StartInstance(
        instance_id=instance_id,
        deployment_id="d1",
        deployment_name="web",
        replica=0,
        # Built directly: a spec with a lone surrogate never passes the spec model (it was
        # stored under older rules), but the session must still survive it.
        spec=dataclasses.replace(JOB, config=JobConfig(command=tuple(command))),
    )


async def serve_sessions(nursery: trio.Nursery, pki: Any, registry: Any) -> int:
    """A node port on 127.0.0.1 whose links become sessions of ``registry``; its port."""
    handler = partial(
        run_session, registry=registry, default_heartbeat_sec=5.0, timeout_for=lambda h: 60.0
    )
    return await nursery.start(
        partial(serve_nodes, handler, host="127.0.0.1", port=0, ssl_context=server_ssl_context(pki))
    )


@asynccontextmanager
async def node_link(pki: Any, tmp_path: Path, port: int) -> AsyncIterator[Any]:
    """Node ``n1``'s link to the port, its hello answered."""
    ctx = node_files(pki, tmp_path / "node", "n1").context()
    async with connect_to_conductor("127.0.0.1", port, ctx, timeout=5) as conn:
        await client_hello(conn, Hello(protocol_version=1, node_id="n1"), timeout=5)
        yield conn


async def test_session_unencodable_message_fails_only_itself(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pki = make_pki(tmp_path)
    async with trio.open_nursery() as nursery:
        subscriber = Recorder()
        registry = await spawn(
            nursery, NodeRegistry(subscribers=(await spawn(nursery, subscriber),))
        )
        port = await serve_sessions(nursery, pki, registry)
        async with node_link(pki, tmp_path, port) as conn:
            session = await registry.ask(GetSession("n1"))
            bad = start("i-bad", ["echo", "\ud800"])
            good = start("i-good", ["true"])
            stop = StopInstance(instance_id="i-other", reason="r")

            await session.tell(bad)  # alone: dropped
            await session.tell([bad, good, stop])  # in a batch: the others still go
            with trio.fail_after(10):
                assert await conn.receive() == good
                assert await conn.receive() == stop

            # The link is untouched: the node is still ready on the same session.
            views = await registry.ask(ListNodes())
            assert [v.state for v in views] == ["ready"]
            assert await registry.ask(GetSession("n1")) == session
            # Each refused start is reported as a failed instance, once per send.
            with trio.fail_after(10):
                while len(failed := _failed(subscriber.seen)) < 2:
                    await trio.sleep(0.01)
            assert {u.instance_id for u in failed} == {"i-bad"}
            assert all(u.final and "could not send" in (u.reason or "") for u in failed)
            assert any(
                r.levelno == logging.ERROR and "not sending StartInstance" in r.getMessage()
                for r in caplog.records
            )
            # A log request that cannot be sent ends its reader at once.
            chunks: list[LogChunk] = []
            await session.tell(OpenLogStream("r1", chunks.append))
            await session.tell(LogRequest(request_id="r1", instance_id="i\udc80"))
            with trio.fail_after(10):
                while not chunks:
                    await trio.sleep(0.01)
            assert chunks[0].eof and "could not send the log request" in (chunks[0].reason or "")
            await session.tell(stop)  # and the link still works
            with trio.fail_after(10):
                assert await conn.receive() == stop
        nursery.cancel_scope.cancel()


def _failed(seen: list[Any]) -> list[Any]:
    return [
        u
        for m in seen
        if isinstance(m, InstancesReported) and not m.full
        for u in m.updates
        if u.state == "failed"
    ]


async def test_session_commands_that_wait_together_leave_in_one_frame(tmp_path: Path) -> None:
    """Commands queued behind the one being written go with the next write, as one
    batch frame, in order (a burst of creates is a burst of starts to one node)."""
    pki = make_pki(tmp_path)
    async with trio.open_nursery() as nursery:
        registry = await spawn(nursery, NodeRegistry())
        port = await serve_sessions(nursery, pki, registry)
        async with node_link(pki, tmp_path, port) as conn:
            session = await registry.ask(GetSession("n1"))
            stops = [StopInstance(instance_id=f"i-{k}", reason="r") for k in range(50)]
            for stop in stops:
                await session.tell(stop)
            frames: list[Any] = []
            with trio.fail_after(10):
                while sum(len(f) if isinstance(f, list) else 1 for f in frames) < len(stops):
                    frames.append(await conn.receive())
            received = [m for f in frames for m in (f if isinstance(f, list) else [f])]
            assert received == stops  # every one, in order
            assert len(frames) <= len(stops) // 2  # ...and not one frame each
        nursery.cancel_scope.cancel()


class EagerRegistry(NodeRegistry):
    """A registry whose subscribers react to a hello at once: a command reaches the
    session while it registers, before the node was sent HelloAccepted."""

    async def receive(self, message: Any) -> Any:
        if isinstance(message, RegisterNode):
            await message.session.tell(StopInstance(instance_id="i-stale", reason="stale copy"))
        return await super().receive(message)


async def test_session_commands_sent_during_the_hello_follow_its_answer(tmp_path: Path) -> None:
    """The session's writer starts only once the node was accepted: a command told while
    the hello is being answered reaches the node after HelloAccepted, not before."""
    pki = make_pki(tmp_path)
    async with trio.open_nursery() as nursery:
        registry = await spawn(nursery, EagerRegistry())
        port = await serve_sessions(nursery, pki, registry)
        async with node_link(pki, tmp_path, port) as conn:  # fails unless HelloAccepted came first
            with trio.fail_after(10):
                assert await conn.receive() == StopInstance(
                    instance_id="i-stale", reason="stale copy"
                )
        nursery.cancel_scope.cancel()
