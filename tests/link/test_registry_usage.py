"""The registry's usage history follows its nodes: heartbeats fill it, a lost node
empties it, a stale session's heartbeat is not counted (real actors, virtual clock)."""

from __future__ import annotations

import trio

from symphony.actors import spawn
from symphony.conductor.nodes.model import NodeHeartbeat, RegisterNode, SessionEnded
from symphony.conductor.nodes.registry import NodeRegistry
from symphony.conductor.nodes.usage import GetCurrentUsage, GetInstanceUsage, GetNodeUsage
from symphony.wire import Heartbeat, InstanceUsage

from .test_registry import Recorder, hello


def beat(seq: int, *instances: str) -> Heartbeat:
    listed = tuple(InstanceUsage(instance_id=i, cpu_percent=5.0, rss_bytes=100) for i in instances)
    return Heartbeat(seq=seq, usage={"cpu_percent": 10.0, "ram_used": 1}, instances=listed)


async def test_registry_usage_is_kept_while_a_node_lives_and_dropped_when_lost(
    autojump_clock: trio.abc.Clock,
) -> None:
    async with trio.open_nursery() as nursery:
        registry = await spawn(nursery, NodeRegistry(node_timeout_sec=30.0))
        session = await spawn(nursery, Recorder())
        assert await registry.ask(RegisterNode(session, hello("a"), "x", False, 2.0)) is None
        assert await registry.ask(GetNodeUsage("a")) == []  # known, nothing measured yet
        assert await registry.ask(GetNodeUsage("other")) is None  # unknown: None (a 404)
        for seq in range(3):
            await registry.tell(NodeHeartbeat("a", session, beat(seq, "i1", "i2")))
            await trio.sleep(2.0)
        assert set(await registry.ask(GetCurrentUsage())) == {"i1", "i2"}
        # A heartbeat that does not say (None: a v2 node, a busy process layer) keeps them.
        await registry.tell(NodeHeartbeat("a", session, Heartbeat(seq=3)))
        assert set(await registry.ask(GetCurrentUsage())) == {"i1", "i2"}
        # i2 ended: its node no longer lists it.
        await registry.tell(NodeHeartbeat("a", session, beat(4, "i1")))
        found = await registry.ask(GetInstanceUsage(("i1", "i2")))
        assert set(found) == {"i1"} and found["i1"].node_id == "a"

        # Disconnected: kept (it may come back); lost: dropped with its instances.
        await registry.tell(SessionEnded("a", session, "link closed"))
        await registry.tell(NodeHeartbeat("a", session, beat(5, "late")))  # stale words
        assert set(await registry.ask(GetCurrentUsage())) == {"i1"}
        assert await registry.ask(GetNodeUsage("a"))
        await trio.sleep(31.0)
        assert await registry.ask(GetNodeUsage("a")) == []
        assert await registry.ask(GetCurrentUsage()) == {}
        nursery.cancel_scope.cancel()
