"""Node identity fencing in the registry: a new incarnation waits out the previous one.

Real actors under a virtual clock; ``tests/deployments/test_fencing_procs.py`` does the
same with real agents and jobs.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import trio
import trio.testing

from symphony.actors import spawn
from symphony.conductor.nodes.fencing import MemoryIncarnations
from symphony.conductor.nodes.model import (
    InstancesReported,
    NodeChanged,
    RegisterNode,
    SessionEnded,
)
from symphony.conductor.nodes.registry import NodeRegistry

from .test_registry import Recorder, hello, states

OLD, NEW = "a" * 32, "b" * 32


def incarnation(token: str | None, node_id: str = "n1") -> Any:
    return dataclasses.replace(hello(node_id), protocol_version=2, incarnation=token)


async def changes(subscriber: Recorder) -> list[tuple[Any, str]]:
    """The state changes the subscriber has seen, once the registry's outbox has drained."""
    await trio.testing.wait_all_tasks_blocked()
    return [(m.previous_state, m.view.state) for m in subscriber.seen if isinstance(m, NodeChanged)]


async def register(registry: Any, nursery: trio.Nursery, token: str | None) -> Any:
    session = await spawn(nursery, Recorder())
    return await registry.ask(
        RegisterNode(session, incarnation(token), "here", False, 2.0)
    ), session


async def test_fencing_new_incarnation_waits_until_the_previous_one_is_lost(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with trio.open_nursery() as nursery:
        subscriber = Recorder()
        sub_ref = await spawn(nursery, subscriber)
        book = MemoryIncarnations()
        registry = await spawn(
            nursery,
            NodeRegistry(node_timeout_sec=30.0, subscribers=(sub_ref,), incarnations=book),
        )
        refusal, first = await register(registry, nursery, OLD)
        assert refusal is None and book.get_node_incarnation("n1") == OLD
        # Connected: any second agent is refused, whatever its token.
        refusal, _ = await register(registry, nursery, NEW)
        assert "already connected" in refusal
        # The first agent dies (SIGKILL): its link closes, its jobs may still run.
        await registry.tell(SessionEnded("n1", first, "link closed"))
        gone_at = trio.current_time()
        await trio.sleep(10.0)
        refusal, _ = await register(registry, nursery, NEW)
        assert "another incarnation" in refusal and "in 20.0 s" in refusal
        assert await states(registry) == {"n1": "disconnected"}
        await trio.testing.wait_all_tasks_blocked()
        reports = [m for m in subscriber.seen if isinstance(m, InstancesReported)]
        assert len(reports) == 1  # only the first agent's hello: the newcomer said nothing
        # At the deadline the previous incarnation is lost (its instances get rescheduled),
        # and only then is the new one let in.
        while (await states(registry))["n1"] != "lost":
            await trio.sleep(0.1)
        assert trio.current_time() - gone_at == pytest.approx(30.0, abs=0.2)
        refusal, _ = await register(registry, nursery, NEW)
        assert refusal is None and book.get_node_incarnation("n1") == NEW
        assert await changes(subscriber) == [
            (None, "ready"),
            ("ready", "disconnected"),
            ("disconnected", "lost"),
            ("lost", "ready"),
        ]
        nursery.cancel_scope.cancel()


async def test_fencing_same_incarnation_and_v1_nodes_reconnect_at_once(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with trio.open_nursery() as nursery:
        registry = await spawn(nursery, NodeRegistry(node_timeout_sec=30.0))
        for token in (OLD, OLD, None, OLD):  # a v1 hello (None) cannot be told apart
            refusal, session = await register(registry, nursery, token)
            assert refusal is None, token
            await registry.tell(SessionEnded("n1", session, "link closed"))
            await trio.sleep(1.0)
        nursery.cancel_scope.cancel()


async def test_fencing_survives_a_registry_restart(autojump_clock: trio.abc.Clock) -> None:
    book = MemoryIncarnations()  # stands in for the Store, which outlives the registry
    book.set_node_incarnation("n1", OLD)
    async with trio.open_nursery() as nursery:
        subscriber = Recorder()
        sub_ref = await spawn(nursery, subscriber)
        registry = await spawn(
            nursery,
            NodeRegistry(node_timeout_sec=30.0, subscribers=(sub_ref,), incarnations=book),
        )
        await trio.sleep(5.0)
        # The previous incarnation has not come back since the restart: hold the id for
        # a node timeout counted from the start, and at least the restart grace (40 s:
        # the previous agent may be waiting out its reconnect backoff).
        refusal, _ = await register(registry, nursery, NEW)
        assert "another incarnation" in refusal and "in 35.0 s" in refusal
        assert await states(registry) == {"n1": "disconnected"}
        # The previous incarnation may still come back within that time.
        refusal, session = await register(registry, nursery, OLD)
        assert refusal is None
        await registry.tell(SessionEnded("n1", session, "link closed"))
        await trio.sleep(31.0)
        assert await states(registry) == {"n1": "lost"}
        refusal, _ = await register(registry, nursery, NEW)
        assert refusal is None and book.get_node_incarnation("n1") == NEW
        assert await changes(subscriber) == [
            (None, "disconnected"),
            ("disconnected", "ready"),
            ("ready", "disconnected"),
            ("disconnected", "lost"),
            ("lost", "ready"),
        ]
        nursery.cancel_scope.cancel()


async def test_fencing_after_a_restart_past_the_timeout_declares_lost_at_once(
    autojump_clock: trio.abc.Clock,
) -> None:
    book = MemoryIncarnations()
    book.set_node_incarnation("n1", OLD)
    async with trio.open_nursery() as nursery:
        subscriber = Recorder()
        sub_ref = await spawn(nursery, subscriber)
        registry = await spawn(
            nursery,
            NodeRegistry(node_timeout_sec=30.0, subscribers=(sub_ref,), incarnations=book),
        )
        await trio.sleep(40.0)
        refusal, _ = await register(registry, nursery, NEW)
        assert refusal is None
        # "lost" for the previous incarnation goes out before "ready" for the new one.
        assert await changes(subscriber) == [
            (None, "disconnected"),
            ("disconnected", "lost"),
            ("lost", "ready"),
        ]
        nursery.cancel_scope.cancel()
