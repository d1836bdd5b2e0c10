"""Supervisors' saves made at the same moment go in one transaction, each all or nothing.

A burst of creates placed on one node wakes many DeploymentSupervisors at once: the
Scheduler's placements, then each frame of the node's reports, which the Deployments
manager hands to every supervisor concerned in one go. Their saves join one group and
one transaction (``symphony/conductor/deployments/savegroup.py``). The store here is the
real SQLite one, and the actors run for real in the test's Trio loop.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from symphony.conductor.deployments import CreateDeployment
from symphony.conductor.deployments.instances import new_instance
from symphony.conductor.deployments.savegroup import SaveGroup
from symphony.conductor.nodes.model import NodeStatuses
from symphony.conductor.store import EventRecord, InstanceRecord, NewEvent, NotFound, Store
from symphony.wire import InstanceStatus

from .test_reschedule import running_cluster, spec


class CountingStore(Store):
    """The real store, noting how many instances each instance transaction held."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.saves: list[int] = []

    def save_instances_with_events(self, records: Any, events: Any, counters: Any = None) -> Any:
        records = list(records)
        self.saves.append(len(records))
        return super().save_instances_with_events(records, events, counters)


def _event(inst: InstanceRecord, text: str) -> NewEvent:
    return NewEvent("placed", text, deployment_id=inst.deployment_id, instance_id=inst.id)


@pytest.fixture
def store(tmp_path: Path) -> Any:
    with CountingStore.open(tmp_path / "symphony.db") as opened:
        yield opened


def _instances(store: Store, count: int) -> list[InstanceRecord]:
    records = store.create_deployments([spec(f"web-{i}") for i in range(count)])
    instances = [new_instance(r, 0) for r in records]
    store.upsert_instances(instances)
    store.saves.clear()  # type: ignore[attr-defined]
    return instances


async def test_saves_of_one_moment_are_one_transaction_in_the_order_they_joined(
    store: CountingStore,
) -> None:
    published: list[EventRecord] = []
    group = SaveGroup(store, published.append)
    instances = _instances(store, 3)
    results: dict[int, tuple[list[InstanceRecord], list[EventRecord]]] = {}

    async def save(i: int) -> None:
        inst = replace(instances[i], state="assigned", node_id="node-1")
        events = [_event(inst, f"{i} first"), _event(inst, f"{i} second")]
        results[i] = await group.save([inst], events)

    async with trio.open_nursery() as nursery:
        for i in range(3):
            nursery.start_soon(save, i)
    assert store.saves == [3] and (group.groups, group.saves) == (1, 3)
    for i in range(3):
        saved, recorded = results[i]
        assert [(s.id, s.state) for s in saved] == [(instances[i].id, "assigned")]
        assert [e.message for e in recorded] == [f"{i} first", f"{i} second"]
    # Ids follow the order of joining, each member's events in its own order, and
    # listeners hear them in the order of their ids.
    ids = [e.id for i in sorted(results, key=lambda i: results[i][1][0].id) for e in results[i][1]]
    assert ids == sorted(ids) and [e.id for e in published] == ids
    assert [i.state for i in store.list_instances()] == ["assigned"] * 3


async def test_a_member_at_fault_fails_alone_and_nothing_of_it_is_written(
    store: CountingStore,
) -> None:
    group = SaveGroup(store, lambda event: None)
    good = _instances(store, 2)
    orphan = replace(good[0], id="gone-0", deployment_id="no-such-deployment")
    outcomes: dict[str, Any] = {}

    async def save(inst: InstanceRecord) -> None:
        try:
            saved, _ = await group.save([replace(inst, state="assigned")], [_event(inst, inst.id)])
            outcomes[inst.id] = saved[0].state
        except NotFound as error:
            outcomes[inst.id] = error

    async with trio.open_nursery() as nursery:
        for inst in (good[0], orphan, good[1]):
            nursery.start_soon(save, inst)
    assert isinstance(outcomes.pop("gone-0"), NotFound)
    assert outcomes == {good[0].id: "assigned", good[1].id: "assigned"}
    # The group's transaction failed as a whole, then each member went alone.
    assert store.saves == [3, 1, 1, 1]
    assert store.get_instance("gone-0") is None
    assert sorted(e.message for e in store.list_events()) == sorted([good[0].id, good[1].id])


async def test_a_member_cancelled_while_it_waits_is_still_written(store: CountingStore) -> None:
    group = SaveGroup(store, lambda event: None)
    first, second = _instances(store, 2)
    done: list[str] = []

    async def save(inst: InstanceRecord) -> None:
        await group.save([replace(inst, state="assigned")], [])
        done.append(inst.id)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(save, first)
        while not group.forming:  # until the first waits for others to join
            await trio.sleep(0)
        with trio.CancelScope() as scope:
            scope.cancel()  # the second joins, then is cancelled as it waits
            await save(second)
    assert done == [first.id] and store.saves == [2]
    assert {i.id: i.state for i in store.list_instances()} == {
        first.id: "assigned",
        second.id: "assigned",
    }


async def test_a_frame_of_reports_is_saved_in_one_transaction(tmp_path: Path) -> None:
    # Through the real actors: four deployments placed on one node; the node reports
    # all four running in one frame. Each supervisor saved its part alone before.
    async with running_cluster(tmp_path / "symphony.db", store_class=CountingStore) as cluster:
        store = cluster.store
        assert isinstance(store, CountingStore)
        for i in range(4):
            await cluster.deployments.ask(CreateDeployment(spec(f"web-{i}", node_group="gpu-1")))
        await trio.testing.wait_all_tasks_blocked()
        starts = cluster.starts()
        assert len(starts) == 4
        by_node: dict[str, list[InstanceStatus]] = {}
        for node_id, start in starts:
            update = InstanceStatus(
                instance_id=start.instance_id,
                deployment_id=start.deployment_id,
                state="running",
                pid=100,
            )
            by_node.setdefault(node_id, []).append(update)
        store.saves.clear()
        for node_id, updates in by_node.items():
            frame = NodeStatuses(node_id, cluster.sessions[node_id], tuple(updates))
            await cluster.registry.tell(frame)
            await trio.testing.wait_all_tasks_blocked()
        assert sorted(store.saves) == sorted(len(u) for u in by_node.values())
        for i in range(4):
            view = cluster.view(f"web-{i}")
            assert [inst["state"] for inst in view["instances"]] == ["running"]
            assert " running on node-" in cluster.events(f"web-{i}")[-1]


async def test_the_reasons_of_creates_no_node_fits_are_stored_with_them(tmp_path: Path) -> None:
    # Through the real actors: eight creates at once for a group no node is in. Each
    # supervisor used to save the Scheduler's reason and its event alone (eight commits),
    # then all of them in one second transaction; now the reasons are foreseen and
    # stored with the instances in the creates' own transaction: no save after it.
    async with running_cluster(tmp_path / "symphony.db", store_class=CountingStore) as cluster:
        store = cluster.store
        assert isinstance(store, CountingStore)
        store.saves.clear()
        names = [f"web-{i}" for i in range(8)]
        async with trio.open_nursery() as nursery:
            for name in names:
                create = CreateDeployment(spec(name, node_group="nowhere"))
                nursery.start_soon(cluster.deployments.ask, create)
        await trio.testing.wait_all_tasks_blocked()
        assert store.saves == []
        for name in names:
            [inst] = cluster.view(name)["instances"]
            assert inst["state"] == "pending"
            assert "nowhere" in inst["reason"]
            created, pending = cluster.events(name)[-2:]
            assert created.startswith("replica 0: instance ")
            assert pending.startswith(f"{inst['id']} pending: ") and "nowhere" in pending


async def test_after_a_restart_pending_deployments_keep_their_reasons(tmp_path: Path) -> None:
    # The reasons saved together read back as saved: a Conductor started again on the
    # same store hears the same verdicts, so it saves and notes nothing new.
    db = tmp_path / "symphony.db"
    names = [f"web-{i}" for i in range(4)]
    async with running_cluster(db) as cluster:
        async with trio.open_nursery() as nursery:
            for name in names:
                create = CreateDeployment(spec(name, node_group="nowhere"))
                nursery.start_soon(cluster.deployments.ask, create)
        await trio.testing.wait_all_tasks_blocked()
        before = {name: (cluster.view(name), cluster.events(name)) for name in names}
    async with running_cluster(db, store_class=CountingStore) as cluster:
        await trio.testing.wait_all_tasks_blocked()
        assert cluster.store.saves == []  # type: ignore[attr-defined]
        for name in names:
            view, events = before[name]
            assert cluster.view(name)["instances"] == view["instances"]
            assert cluster.events(name) == events
            assert "nowhere" in view["instances"][0]["reason"]


async def test_creates_placed_together_are_planned_in_one_pass_and_saved_at_once(
    tmp_path: Path,
) -> None:
    # Six creates at once on two nodes with room for eight: their first placements go to
    # the Scheduler as one message, so all six supervisors hear "placed" together and
    # save it in one transaction.
    async with running_cluster(tmp_path / "symphony.db", store_class=CountingStore) as cluster:
        store = cluster.store
        assert isinstance(store, CountingStore)
        store.saves.clear()
        names = [f"web-{i}" for i in range(6)]
        async with trio.open_nursery() as nursery:
            for name in names:
                nursery.start_soon(cluster.deployments.ask, CreateDeployment(spec(name)))
        await trio.testing.wait_all_tasks_blocked()
        assert store.saves == [6]
        assert len(cluster.starts()) == 6
        for name in names:
            [inst] = cluster.view(name)["instances"]
            assert inst["state"] == "assigned"
            assert cluster.events(name)[-1] == f"{inst['id']} placed on {inst['node_id']}"
