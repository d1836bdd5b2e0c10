"""The Scheduler foresees why new instances would wait, and tells only reasons that differ.

A group of creates asks :class:`ForeseeReasons` before its transaction, so its first
instances are stored once with their reason (``deployments/foresight.py``). The
placement asked for after the commit carries the reason stored; the Scheduler tells the
owner only a reason that changed meanwhile, and places the instance if capacity came.
The Scheduler here is the real actor; the owner records what it hears.
"""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from symphony.actors import Actor, spawn
from symphony.conductor.deployments import CapacityUsage, Scheduler
from symphony.conductor.deployments.foresight import PLACEABLE_FOR, Foresight
from symphony.conductor.deployments.instances import job_spec
from symphony.conductor.deployments.messages import (
    ForeseeReasons,
    PlaceInstances,
    PlacementNews,
    PlacementRequest,
)
from symphony.conductor.nodes.model import NodeChanged, NodeView
from symphony.conductor.placement import PendingInstance
from symphony.spec import parse_spec
from symphony.wire import StartInstance

JOB = job_spec(parse_spec({"config": {"command": ["true"]}}))


class Owner(Actor):
    """Stands for the DeploymentSupervisors: keeps every news it hears."""

    def __init__(self) -> None:
        super().__init__()
        self.news: list[PlacementNews] = []

    async def receive(self, message: Any) -> Any:
        assert isinstance(message, PlacementNews)
        self.news.append(message)


def _node(node_id: str, totals: dict[str, int]) -> NodeView:
    return NodeView(
        node_id=node_id, state="ready", groups=("g",), capacities_total=totals, resources={},
        usage={}, last_heartbeat=None, connected_at=None, remote=None,
        shared_certificate=False, heartbeat_sec=1.0,
    )  # fmt: skip


def _request(instance_id: str, reason: str | None, amount: int = 2) -> PlacementRequest:
    start = StartInstance(
        instance_id=instance_id, deployment_id="d", deployment_name="d", replica=0, spec=JOB
    )
    pending = PendingInstance(instance_id, "d", "g", {"A": amount})
    return PlacementRequest(pending=pending, start=start, reason=reason)


async def test_foreseen_reasons_plan_without_reserving_and_are_not_told_again() -> None:
    async with trio.open_nursery() as nursery:
        scheduler = await spawn(nursery, Scheduler(), name="scheduler")
        owner_actor = Owner()
        owner = await spawn(nursery, owner_actor, name="owner")
        await scheduler.tell(NodeChanged(_node("n1", {"A": 3}), None))
        amounts = {"fits": 2, "too-big": 4, "fits-too": 2}
        pending = tuple(PendingInstance(name, name, "g", {"A": a}) for name, a in amounts.items())
        foreseen = await scheduler.ask(ForeseeReasons(pending))
        # Each on its own: the two that fit now are left out, the other has its reason ...
        assert list(foreseen) == ["too-big"]
        assert foreseen["too-big"].startswith("no ready node in group g has A >= 4 free")
        # ... and nothing was reserved.
        assert await scheduler.ask(CapacityUsage()) == {"n1": {}}
        # Placed after the commit, with the reason stored: the one placed is told so,
        # the one stored with the reason the Scheduler finds again hears nothing more.
        requests = (
            _request("i1", foreseen["too-big"], amount=4),
            _request("i0", "waiting for a node"),
        )
        await scheduler.tell(PlaceInstances(requests, owner))
        await trio.testing.wait_all_tasks_blocked()
        [news] = owner_actor.news
        assert [p.instance_id for p in news.placed] == ["i0"]
        assert news.unplaceable == ()
        nursery.cancel_scope.cancel()


async def test_a_stored_reason_gone_stale_is_told_or_the_instance_placed() -> None:
    async with trio.open_nursery() as nursery:
        scheduler = await spawn(nursery, Scheduler(), name="scheduler")
        owner_actor = Owner()
        owner = await spawn(nursery, owner_actor, name="owner")
        [pending] = [PendingInstance("d/0", "d", "g", {"A": 2})]
        foreseen = await scheduler.ask(ForeseeReasons((pending,)))
        assert foreseen == {"d/0": "no node in group g"}
        # A node joined between the foresight and the placement: the reason stored is
        # stale, so the owner hears the new one.
        await scheduler.tell(NodeChanged(_node("n1", {"A": 1}), None))
        await scheduler.tell(PlaceInstances((_request("i0", foreseen["d/0"]),), owner))
        await trio.testing.wait_all_tasks_blocked()
        [news] = owner_actor.news
        [told] = news.unplaceable
        assert told.instance_id == "i0" and told.reason != foreseen["d/0"]
        assert "best has 1" in told.reason
        # Room came: placed, as any waiting instance.
        await scheduler.tell(NodeChanged(_node("n2", {"A": 2}), None))
        await trio.testing.wait_all_tasks_blocked()
        assert [p.node_id for p in owner_actor.news[-1].placed] == ["n2"]
        nursery.cancel_scope.cancel()


async def test_a_shape_placed_lately_is_not_asked_about_again(
    autojump_clock: trio.testing.MockClock,
) -> None:
    """Creates that nodes take do not each wait for the Scheduler before their commit:
    once a shape would be placed, the manager does not ask about it for
    ``PLACEABLE_FOR`` seconds (a shape that waits is asked about every time)."""
    async with trio.open_nursery() as nursery:
        scheduler = await spawn(nursery, Scheduler(), name="scheduler")
        await scheduler.tell(NodeChanged(_node("n1", {"A": 3}), None))
        foresight = Foresight()

        def specs(*names: str) -> list[Any]:
            return [
                parse_spec({"name": n, "node_group": "g", "capacity_requests": {"A": 2},
                            "config": {"command": ["true"]}})
                for n in names
            ]  # fmt: skip

        assert await foresight.foresee(scheduler, specs("a")) == {}  # would be placed
        await scheduler.tell(NodeChanged(_node("n1", {"A": 1}), None))  # now it would not
        assert await foresight.foresee(scheduler, specs("b")) == {}  # not asked: remembered
        await trio.sleep(PLACEABLE_FOR)
        [reason] = (await foresight.foresee(scheduler, specs("c"))).values()
        assert reason.startswith("no ready node in group g has A >= 2 free")
        # A shape that waits is asked about each time (room may come at any moment).
        await scheduler.tell(NodeChanged(_node("n1", {"A": 3}), None))
        assert await foresight.foresee(scheduler, specs("d")) == {}
        nursery.cancel_scope.cancel()
