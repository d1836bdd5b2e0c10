"""The registry's node state machine, driven by real actors under a virtual clock."""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from symphony.actors import Actor, spawn
from symphony.conductor.nodes.model import (
    CloseSession,
    GetSession,
    ListNodes,
    NodeChanged,
    NodeHeartbeat,
    RegisterNode,
    SessionEnded,
)
from symphony.conductor.nodes.registry import NodeRegistry
from symphony.wire import Heartbeat, Hello


class Recorder(Actor):
    """Stands in for a session or a subscriber: remembers what it was told."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[Any] = []

    async def receive(self, message: Any) -> Any:
        self.seen.append(message)


def hello(node_id: str = "n1", heartbeat: float = 2.0) -> Hello:
    return Hello(
        protocol_version=1,
        node_id=node_id,
        groups=("g",),
        capacities_total={"A": 4},
        heartbeat_sec=heartbeat,
    )


async def states(registry: Any) -> dict[str, str]:
    return {v.node_id: v.state for v in await registry.ask(ListNodes())}


async def test_registry_quiet_node_is_lost_after_five_heartbeats(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with trio.open_nursery() as nursery:
        subscriber = Recorder()
        sub_ref = await spawn(nursery, subscriber)
        registry = await spawn(nursery, NodeRegistry(subscribers=(sub_ref,)))
        session_actor = Recorder()
        session = await spawn(nursery, session_actor)
        assert await registry.ask(RegisterNode(session, hello(), "here", False, 2.0)) is None
        # Heartbeats keep it ready for as long as they come.
        for seq in range(10):
            await trio.sleep(2.0)
            await registry.tell(NodeHeartbeat("n1", session, Heartbeat(seq=seq, usage={"x": 1})))
        assert await states(registry) == {"n1": "ready"}
        # A frozen node: the link stays open but nothing arrives. Lost after 5 x 2 s.
        frozen_at = trio.current_time()
        while (await states(registry))["n1"] == "ready":
            await trio.sleep(0.1)
        assert trio.current_time() - frozen_at == pytest.approx(10.0, abs=0.2)
        await trio.testing.wait_all_tasks_blocked()
        assert isinstance(session_actor.seen[-1], CloseSession)  # its link is closed
        assert "no heartbeat for 10 s" in session_actor.seen[-1].reason
        changes = [
            (m.previous_state, m.view.state) for m in subscriber.seen if isinstance(m, NodeChanged)
        ]
        assert changes == [(None, "ready"), ("ready", "lost")]
        nursery.cancel_scope.cancel()


async def test_registry_disconnected_node_is_lost_unless_it_returns(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with trio.open_nursery() as nursery:
        registry = await spawn(nursery, NodeRegistry(node_timeout_sec=30.0))
        first = await spawn(nursery, Recorder())
        await registry.ask(RegisterNode(first, hello("a"), "x", False, 2.0))
        await registry.tell(SessionEnded("a", first, "link closed"))
        assert await states(registry) == {"a": "disconnected"}
        assert await registry.ask(GetSession("a")) is None
        await trio.sleep(29.0)
        assert await states(registry) == {"a": "disconnected"}
        # It comes back in time: ready again, with the new session.
        second = await spawn(nursery, Recorder())
        assert await registry.ask(RegisterNode(second, hello("a"), "y", False, 2.0)) is None
        assert await registry.ask(GetSession("a")) == second
        # The old session's late words change nothing.
        await registry.tell(SessionEnded("a", first, "late"))
        assert await states(registry) == {"a": "ready"}
        await registry.tell(SessionEnded("a", second, "gone for good"))
        await trio.sleep(30.5)
        assert await states(registry) == {"a": "lost"}
        # A lost node that reconnects is ready again.
        third = await spawn(nursery, Recorder())
        assert await registry.ask(RegisterNode(third, hello("a"), "z", False, 2.0)) is None
        assert await states(registry) == {"a": "ready"}
        nursery.cancel_scope.cancel()


async def test_registry_refuses_second_live_session_for_one_id() -> None:
    async with trio.open_nursery() as nursery:
        registry = await spawn(nursery, NodeRegistry())
        one, two = await spawn(nursery, Recorder()), await spawn(nursery, Recorder())
        assert await registry.ask(RegisterNode(one, hello(), "host-1:1", False, 2.0)) is None
        refusal = await registry.ask(RegisterNode(two, hello(), "host-2:2", False, 2.0))
        assert refusal.startswith("node id 'n1' is already connected from host-1:1")
        assert await registry.ask(GetSession("n1")) == one
        nursery.cancel_scope.cancel()


async def test_registry_rejects_unknown_messages() -> None:
    with pytest.RaisesGroup(pytest.RaisesExc(TypeError, match="does not handle str")):
        async with trio.open_nursery() as nursery:
            registry = await spawn(nursery, NodeRegistry())
            await registry.tell("hello?")
