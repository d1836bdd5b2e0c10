"""Placements per second with simulated nodes: through the real Scheduler actor, and the
pure placement core underneath it.

The :class:`~symphony.conductor.deployments.Scheduler` is spawned as in the Conductor and
fed what the Conductor feeds it: one ``NodeChanged`` (ready) per simulated node, whose
session is a counting actor that receives the start-command batches, then one
``PlaceInstances`` per deployment (as ``POST /deployments`` does), all told back to back.
The figure is the time from the first request until the owner heard ``Placed`` or
``Unplaceable`` for every instance. The limit beside it is the pure core
(``ClusterState.schedule``, one event at a time, ``benchmarks/placement.py``) on the same
nodes and deployments: the actor's messages and start batches are the difference.

Target (issue "Scheduling"): >= 2,000 placements/s with 1,000 nodes, 10,000 deployments.
"""

from __future__ import annotations

import random
import time
from typing import Any

import trio

from benchmarks.placement import make_nodes, make_pending, run_per_event
from symphony.actors import Actor, spawn
from symphony.conductor.deployments import Scheduler
from symphony.conductor.deployments.messages import PlaceInstances, PlacementRequest
from symphony.conductor.nodes.model import NodeChanged, NodeView
from symphony.spec import parse_spec
from symphony.wire import StartInstance, job_spec_from_dict

from ._context import Context
from ._figures import Figure, stats

JOB = job_spec_from_dict(parse_spec({"config": {"command": ["true"]}}).to_dict())
NAME = "placement"
TARGET = 2000.0
GROUPS = 10


class Counter(Actor):
    """Counts what it receives; ``done`` fires at ``expected`` owner replies."""

    def __init__(self, expected: int = -1) -> None:
        super().__init__()
        self.count = 0
        self.expected = expected
        self.done = trio.Event()

    async def receive(self, message: Any) -> Any:
        self.count += len(message) if isinstance(message, list) else 1
        if self.count == self.expected:
            self.done.set()
        return None


async def through_scheduler(nodes: int, deployments: int, seed: int) -> float:
    """Placements per second through a fresh Scheduler actor."""
    rng = random.Random(seed)
    views = make_nodes(nodes, GROUPS, rng)
    pending = make_pending(deployments, GROUPS, rng)
    requests = [
        PlacementRequest(
            p,
            StartInstance(
                instance_id=p.instance_id,
                deployment_id=p.deployment_id,
                deployment_name=p.deployment_id,
                replica=0,
                spec=JOB,
            ),
        )
        for p in pending
    ]
    async with trio.open_nursery() as nursery:
        scheduler = await spawn(nursery, Scheduler(), name="scheduler", mailbox_size=1024)
        sessions = await spawn(nursery, Counter(), name="sessions", mailbox_size=1024)
        owner_actor = Counter(expected=deployments)
        owner = await spawn(nursery, owner_actor, name="owner", mailbox_size=1024)
        for n in views:
            view = NodeView(
                node_id=n.node_id,
                state="ready",
                groups=tuple(sorted(n.groups)),
                capacities_total=dict(n.capacities_total),
                resources={},
                usage={},
                last_heartbeat=None,
                connected_at=None,
                remote=None,
                shared_certificate=False,
                heartbeat_sec=3.0,
            )
            await scheduler.tell(NodeChanged(view, None, sessions))
        start = time.perf_counter()
        for request in requests:
            await scheduler.tell(PlaceInstances((request,), owner))
        await owner_actor.done.wait()
        elapsed = time.perf_counter() - start
        nursery.cancel_scope.cancel()
    return deployments / elapsed


def pure_core(nodes: int, deployments: int, seed: int) -> float:
    rng = random.Random(seed)
    views = make_nodes(nodes, GROUPS, rng)
    return run_per_event(views, make_pending(deployments, GROUPS, rng))["per_second"]


async def run(ctx: Context) -> list[Figure]:
    nodes, deployments, repeats = ctx.size(100, 1000), ctx.size(1000, 10_000), ctx.size(1, 3)
    actor = [await through_scheduler(nodes, deployments, seed) for seed in range(repeats)]
    core = [pure_core(nodes, deployments, seed) for seed in range(repeats)]
    median = stats(actor)["median"]
    full = nodes == 1000 and deployments == 10_000
    return [
        Figure(
            NAME,
            f"placements through the Scheduler actor ({nodes:,} nodes, {deployments:,} deps)",
            "per s",
            stats(actor),
            "higher",
            peer_note="peer: placement is a 5 s polling loop inside its conductor, not separable",
            limit=stats(core),
            limit_label="pure core, per event",
            target=f">= {TARGET:,.0f}/s" if full else "",
            met=(median >= TARGET) if full else None,
        )
    ]
