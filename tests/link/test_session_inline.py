"""A node session has no task of its own: the link's task reads, senders' tasks handle.

Each connected node used to cost the Conductor two tasks (the link's, which reads, and
the session actor's, which took commands from its mailbox): at 5,000 nodes, 5,000 tasks
with their frames, nurseries and mailbox channels doing nothing but hand a command to
the writer's queue. The session is now an inline actor: a command told to it is queued
for the writer in the teller's task, before ``tell`` returns.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from symphony.actors import ActorStopped, spawn
from symphony.conductor.nodes.model import CloseSession, GetSession
from symphony.conductor.nodes.registry import NodeRegistry
from symphony.conductor.nodes.session import SEND_QUEUE
from symphony.wire import ConnectionClosed, StopInstance
from tests.link.test_session_send import node_link, serve_sessions
from tests.test_wire_support import make_pki


def _tasks_under(name: str) -> int:
    """Tasks below the one whose name contains ``name`` (that one included)."""
    found: list[Any] = []
    stack = [trio.lowlevel.current_root_task()]
    while stack:
        task = stack.pop()
        if name in task.name and not found:
            found.append(task)
            stack = [task]
            continue
        for nursery in task.child_nurseries:
            stack.extend(nursery.child_tasks)
        if found:
            found.append(task)
    return len(found)


async def _wait_session(registry: Any) -> Any:
    with trio.fail_after(10):
        while (session := await registry.ask(GetSession("n1"))) is None:
            await trio.sleep(0.01)
    return session


@asynccontextmanager
async def _linked(tmp_path: Path) -> AsyncIterator[tuple[Any, Any, Any]]:
    """A registry, node ``n1``'s link to its sessions' port, and the session's ref."""
    pki = make_pki(tmp_path)
    async with trio.open_nursery() as nursery:
        registry = await spawn(nursery, NodeRegistry())
        port = await serve_sessions(nursery, pki, registry)
        async with node_link(pki, tmp_path, port) as conn:
            yield registry, conn, await _wait_session(registry)
        nursery.cancel_scope.cancel()


async def test_a_node_link_costs_the_conductor_one_task(tmp_path: Path) -> None:
    pki = make_pki(tmp_path)
    async with trio.open_nursery() as nursery:
        registry = await spawn(nursery, NodeRegistry())
        port = await serve_sessions(nursery, pki, registry)
        await trio.sleep(0.1)
        idle = _tasks_under("serve_nodes")
        async with node_link(pki, tmp_path, port):
            await _wait_session(registry)
            await trio.sleep(0.2)  # anything a link would start, started
            assert _tasks_under("serve_nodes") - idle == 1
        nursery.cancel_scope.cancel()


async def test_a_close_is_handled_before_tell_returns_and_ends_the_link(tmp_path: Path) -> None:
    async with _linked(tmp_path) as (_, conn, session):
        await session.tell(CloseSession("node declared lost: test"))
        assert not session.alive  # handled in this task: no mailbox in between
        with pytest.raises(ActorStopped):
            await session.tell(StopInstance(instance_id="i-1", reason="r"))
        with trio.fail_after(10), pytest.raises(ConnectionClosed) as closed:
            await conn.receive()
        assert closed.value.code == 1001 and "declared lost: test" in str(closed.value)


async def test_a_command_the_session_cannot_handle_ends_its_link_not_the_sender(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    async with _linked(tmp_path) as (registry, conn, session):
        with caplog.at_level(logging.ERROR):
            await session.tell(42)  # a bug of the sender: it goes on
        assert "does not handle int" in caplog.text
        with trio.fail_after(10), pytest.raises(ConnectionClosed) as closed:
            await conn.receive()
        assert closed.value.code == 1011
        with trio.fail_after(10):  # the registry heard that the session ended
            while await registry.ask(GetSession("n1")) is not None:
                await trio.sleep(0.01)


async def test_commands_past_the_send_queue_fail_the_link_not_the_sender(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Overflow policy *fail*: a node that takes nothing while the queue fills has its
    link closed (it reconnects and its hello is reconciled); the sender never waits."""
    async with _linked(tmp_path) as (_, conn, session):
        stop = StopInstance(instance_id="i-1", reason="r")
        # No checkpoint in between: the writer cannot take any of them meanwhile.
        for _ in range(SEND_QUEUE + 1):
            session.tell_nowait(stop)
        assert not session.alive
        assert f"{SEND_QUEUE} frames wait to be written" in caplog.text
        with pytest.raises(ActorStopped):
            session.tell_nowait(stop)
        with trio.fail_after(10), pytest.raises(ConnectionClosed) as closed:
            while True:
                await conn.receive()
        assert closed.value.code == 1001
