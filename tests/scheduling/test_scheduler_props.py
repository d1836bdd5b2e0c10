"""Property test of the Scheduler actor: random sequences of node joins and losses,
deployments, scale changes, stops and deletes.

The Scheduler runs for real (a Trio actor with its mailbox); an Owner actor plays the
deployments' part: it asks for placements, releases instances, and records what the
Scheduler says. After every step, with the Scheduler idle:

- no node's reservations exceed its capacity in any class;
- no instance is placed twice (one Placed per instance, one start command per instance);
- every instance still waiting truly fits on no ready node (checked by brute force
  against the free capacity the Scheduler reports).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import trio
import trio.testing
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from symphony.actors import Actor, spawn
from symphony.conductor.deployments import CapacityUsage, Scheduler
from symphony.conductor.deployments.instances import job_spec
from symphony.conductor.deployments.messages import (
    Placed,
    PlaceInstances,
    PlacementNews,
    PlacementRequest,
    ReleaseInstances,
    ReservationsLost,
    Unplaceable,
)
from symphony.conductor.nodes.model import NodeChanged, NodeView
from symphony.conductor.placement import PendingInstance
from symphony.spec import parse_spec
from symphony.wire import StartInstance

JOB = job_spec(parse_spec({"config": {"command": ["true"]}}))

CLASSES = ("A", "B")
GROUPS = ("g1", "g2")


class Owner(Actor):
    """Records every answer of the Scheduler (stands for the DeploymentSupervisors)."""

    def __init__(self) -> None:
        super().__init__()
        self.placed: dict[str, str] = {}
        self.placed_count: dict[str, int] = {}
        self.lost: set[str] = set()

    async def receive(self, message: Any) -> Any:
        assert isinstance(message, PlacementNews)
        for item in (*message.placed, *message.lost, *message.unplaceable):
            self._note(item)

    def _note(self, message: Any) -> None:
        if isinstance(message, Placed):
            self.placed[message.instance_id] = message.node_id
            self.placed_count[message.instance_id] = (
                self.placed_count.get(message.instance_id, 0) + 1
            )
        elif isinstance(message, ReservationsLost):
            for instance_id in message.instance_ids:
                self.placed.pop(instance_id, None)
                self.lost.add(instance_id)
        elif isinstance(message, Unplaceable):
            pass


class Session(Actor):
    """Stands for a node's link: counts the start commands it is asked to send."""

    def __init__(self, starts: dict[str, int]) -> None:
        super().__init__()
        self.starts = starts

    async def receive(self, message: Any) -> Any:
        for command in message if isinstance(message, list) else [message]:
            assert isinstance(command, StartInstance)
            self.starts[command.instance_id] = self.starts.get(command.instance_id, 0) + 1


@dataclass
class Model:
    nodes: dict[str, tuple[str, dict[str, int]]] = field(default_factory=dict)  # ready ones
    deployments: dict[str, tuple[str, dict[str, int], list[str]]] = field(default_factory=dict)
    serial: int = 0


node_st = st.tuples(
    st.integers(0, 5),
    st.sampled_from(GROUPS),
    st.fixed_dictionaries({c: st.integers(0, 6) for c in CLASSES}),
)
op_st = st.one_of(
    st.tuples(st.just("join"), node_st),
    st.tuples(st.just("lose"), st.integers(0, 5)),
    st.tuples(
        st.just("deploy"),
        st.sampled_from(GROUPS),
        st.fixed_dictionaries({c: st.integers(0, 3) for c in CLASSES}),
        st.integers(1, 4),
    ),
    st.tuples(st.just("scale"), st.integers(0, 20), st.integers(0, 5)),
    st.tuples(st.just("stop"), st.integers(0, 20)),
    st.tuples(st.just("delete"), st.integers(0, 20)),
)


def view(node_id: str, group: str, totals: dict[str, int], state: str) -> NodeView:
    return NodeView(
        node_id=node_id, state=state, groups=(group,), capacities_total=totals, resources={},
        usage={}, last_heartbeat=None, connected_at=None, remote=None,
        shared_certificate=False, heartbeat_sec=1.0,
    )  # fmt: skip


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(ops=st.lists(op_st, min_size=1, max_size=30))
def test_scheduler_never_overbooks_places_what_fits_and_never_twice(ops: list[tuple]) -> None:
    trio.run(_run, ops)


async def _run(ops: list[tuple]) -> None:
    model = Model()
    starts: dict[str, int] = {}
    async with trio.open_nursery() as nursery:
        scheduler = await spawn(nursery, Scheduler(), mailbox_size=1000)
        owner_actor = Owner()
        owner = await spawn(nursery, owner_actor, mailbox_size=1000)
        session = await spawn(nursery, Session(starts), mailbox_size=1000)
        for op in ops:
            await _apply(op, model, scheduler, owner, session, owner_actor)
            await trio.testing.wait_all_tasks_blocked()
            await _check(model, scheduler, owner_actor, starts)
        nursery.cancel_scope.cancel()


async def _apply(op, model, scheduler, owner, session, owner_actor) -> None:
    kind = op[0]
    if kind == "join":
        n, group, totals = op[1]
        node_id = f"n{n}"
        # A node that is already there says hello again with its own shape (a reconnect);
        # a node that shrinks below what it runs is the operator's doing, not placement's.
        group, totals = model.nodes.get(node_id, (group, totals))
        model.nodes[node_id] = (group, totals)
        await scheduler.tell(NodeChanged(view(node_id, group, totals, "ready"), None, session))
    elif kind == "lose":
        node_id = f"n{op[1]}"
        if node_id in model.nodes:
            group, totals = model.nodes.pop(node_id)
            await scheduler.tell(NodeChanged(view(node_id, group, totals, "lost"), "ready"))
    elif kind == "deploy":
        _, group, requests, replicas = op
        model.serial += 1
        name = f"d{model.serial}"
        ids = [f"{name}-{r}" for r in range(replicas)]
        model.deployments[name] = (group, requests, ids)
        await _place(scheduler, owner, name, group, requests, ids)
    elif kind in ("scale", "stop", "delete") and model.deployments:
        name = sorted(model.deployments)[op[1] % len(model.deployments)]
        group, requests, ids = model.deployments[name]
        keep = op[2] if kind == "scale" else 0
        gone, kept = ids[keep:], ids[:keep]
        if gone:
            await scheduler.tell(ReleaseInstances(tuple(gone)))
            for instance_id in gone:
                owner_actor.placed.pop(instance_id, None)
        model.serial += 1
        new = [f"{name}-s{model.serial}-{r}" for r in range(len(kept), keep)]
        if kind == "delete":
            del model.deployments[name]
        else:
            model.deployments[name] = (group, requests, kept + new)
            if new:
                await _place(scheduler, owner, name, group, requests, new)
    # Instances whose node was lost wait again, like DeploymentSupervisors replace them
    # (once the Scheduler has said which: a tell only queues the message).
    await trio.testing.wait_all_tasks_blocked()
    for name, (group, requests, ids) in list(model.deployments.items()):
        lost = [i for i in ids if i in owner_actor.lost]
        if lost:
            owner_actor.lost.difference_update(lost)
            model.serial += 1
            fresh = [f"{i}-r{model.serial}" for i in lost]
            model.deployments[name] = (group, requests, [i for i in ids if i not in lost] + fresh)
            await _place(scheduler, owner, name, group, requests, fresh)


async def _place(scheduler, owner, name, group, requests, ids) -> None:
    requests_ = tuple(
        PlacementRequest(
            pending=PendingInstance(i, name, group, requests),
            start=StartInstance(
                instance_id=i, deployment_id=name, deployment_name=name, replica=0, spec=JOB
            ),
        )
        for i in ids
    )
    await scheduler.tell(PlaceInstances(requests_, owner))


async def _check(model: Model, scheduler: Any, owner: Owner, starts: dict[str, int]) -> None:
    used = await scheduler.ask(CapacityUsage())
    for node_id, (_group, totals) in model.nodes.items():
        for capacity_class, amount in used.get(node_id, {}).items():
            assert amount <= totals.get(capacity_class, 0), (node_id, used[node_id], totals)
    assert all(count == 1 for count in owner.placed_count.values()), owner.placed_count
    assert all(count == 1 for count in starts.values()), starts
    # Everything still waiting fits nowhere (by brute force over the ready nodes).
    for group, requests, ids in model.deployments.values():
        waiting = [i for i in ids if i not in owner.placed]
        if not waiting:
            continue
        for node_id, (node_group, totals) in model.nodes.items():
            if node_group != group:
                continue
            free = {c: totals.get(c, 0) - used.get(node_id, {}).get(c, 0) for c in CLASSES}
            fits = all(free.get(c, 0) >= amount for c, amount in requests.items() if amount)
            assert not fits, f"{waiting} wait although node {node_id} has {free} for {requests}"
