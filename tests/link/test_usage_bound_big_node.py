"""A real big node's heartbeats are all kept; a node growing its usage with new keys is
still refused (real registry, virtual clock).

The bound once counted each delta whole on top of the last full heartbeat: a node of
384 logical CPUs and 8 GPUs sends about 4 KiB a delta (``per_core`` changes every
time), so its 20th heartbeat since a full one "weighed" 80 KiB > 64 KiB and 60 of 200
had their usage refused. What is bounded now is the merged usage itself.
"""

from __future__ import annotations

import logging
import random
from typing import Any

import pytest
import trio

from symphony.actors import spawn
from symphony.conductor.nodes.model import ListNodes, NodeHeartbeat, RegisterNode
from symphony.conductor.nodes.registry import NodeRegistry
from symphony.wire import Heartbeat
from symphony.wire.usagedelta import MAX_USAGE_BYTES, UsageSender

from .test_registry import Recorder, hello

CORES, GPUS, BEATS = 384, 8, 200


def big_usage(rng: random.Random) -> dict[str, Any]:
    """What ``symphony.node.resources`` reports on a 384-CPU, 8-GPU node (new loads)."""
    return {
        "cpu_percent": round(rng.uniform(0, 100), 1),
        "per_core": [round(rng.uniform(0, 100), 1) for _ in range(CORES)],
        "ram_used": rng.randrange(1 << 40),
        "ram_total": 2 << 40,
        "disks": [
            {"path": f"/data{i}", "total": 1 << 44, "used": rng.randrange(1 << 44)}
            for i in range(4)
        ],
        "gpus": [
            {
                "index": g,
                "utilization_percent": rng.randrange(100),
                "memory_used": rng.randrange(80 << 30),
                "memory_total": 80 << 30,
                "temperature_c": rng.randrange(30, 90),
                "power_watts": rng.uniform(50, 700),
            }
            for g in range(GPUS)
        ],
    }


def refusals(caplog: pytest.LogCaptureFixture) -> int:
    return sum("heartbeat usage refused" in r.getMessage() for r in caplog.records)


async def usage_of(registry: Any, node_id: str) -> dict[str, Any]:
    views = {v.node_id: v for v in await registry.ask(ListNodes())}
    return dict(views[node_id].usage)


async def test_a_big_nodes_heartbeats_are_all_kept(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    rng = random.Random(384)
    async with trio.open_nursery() as nursery:
        registry = await spawn(nursery, NodeRegistry(node_timeout_sec=30.0))
        session = await spawn(nursery, Recorder())
        assert await registry.ask(RegisterNode(session, hello("big"), "x", False, 2.0)) is None
        sender = UsageSender(deltas=True)
        for seq in range(BEATS):
            usage = big_usage(rng)
            sent, delta = sender.next(usage)
            await registry.tell(
                NodeHeartbeat("big", session, Heartbeat(seq=seq, usage=sent, delta=delta))
            )
            await trio.sleep(2.0)
            assert await usage_of(registry, "big") == usage, seq
        assert refusals(caplog) == 0
        nursery.cancel_scope.cancel()


async def test_usage_grown_by_new_keys_is_still_refused(
    autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with trio.open_nursery() as nursery:
        registry = await spawn(nursery, NodeRegistry(node_timeout_sec=30.0))
        session = await spawn(nursery, Recorder())
        assert await registry.ask(RegisterNode(session, hello("mallory"), "x", False, 2.0)) is None
        await registry.tell(
            NodeHeartbeat("mallory", session, Heartbeat(seq=0, usage={"cpu_percent": 1.0}))
        )
        chunk = "x" * 4000
        for seq in range(1, 40):
            delta = {f"k{seq}": chunk}
            await registry.tell(
                NodeHeartbeat("mallory", session, Heartbeat(seq=seq, usage=delta, delta=True))
            )
            await trio.sleep(2.0)
        kept = await usage_of(registry, "mallory")
        assert 10 < len(kept) < 20, len(kept)  # keys up to the bound, then refused
        assert sum(len(v) for v in kept.values() if isinstance(v, str)) < MAX_USAGE_BYTES
        assert refusals(caplog) >= 20
        # A plain delta of a known key still goes in on top of what is kept.
        await registry.tell(
            NodeHeartbeat(
                "mallory", session, Heartbeat(seq=99, usage={"cpu_percent": 7.0}, delta=True)
            )
        )
        await trio.sleep(2.0)
        assert (await usage_of(registry, "mallory"))["cpu_percent"] == 7.0
        nursery.cancel_scope.cancel()
