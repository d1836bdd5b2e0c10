"""Failed replicas are rescheduled as announced; past the last attempt the deployment fails.

The Conductor's actors run for real in the test's Trio loop (registry, Scheduler,
Deployments with their supervisors, SQLite store) under a virtual clock, so the
reschedule delays (5 s, 10 s, ...) pass instantly. Two nodes are played by recording
sessions: the test sees every command sent to them and reports back what a node would.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from symphony.actors import Actor, ActorRef, ChildSpec, Supervisor, spawn
from symphony.conductor.api.views import deployment_json
from symphony.conductor.deployments import (
    CreateDeployment,
    Deployments,
    EventLog,
    Scheduler,
    UpdateDeployment,
)
from symphony.conductor.nodes.model import NodeStatuses, RegisterNode
from symphony.conductor.nodes.registry import NodeRegistry
from symphony.conductor.store import Store
from symphony.spec import parse_spec
from symphony.wire import PROTOCOL_VERSION, Hello, InstanceStatus, StartInstance

NODES = ("node-1", "node-2")


class NodeLink(Actor):
    """Plays a node's session: records the commands the Conductor sends it."""

    def __init__(self, node_id: str, log: list[tuple[str, Any]]) -> None:
        super().__init__()
        self.node_id = node_id
        self.log = log

    async def receive(self, message: Any) -> Any:
        for command in message if isinstance(message, list) else [message]:
            self.log.append((self.node_id, command))


@dataclass
class Cluster:
    store: Store
    deployments: ActorRef
    registry: ActorRef
    sessions: dict[str, ActorRef]
    commands: list[tuple[str, Any]]
    scheduler: ActorRef

    def starts(self) -> list[tuple[str, StartInstance]]:
        return [(n, c) for n, c in self.commands if isinstance(c, StartInstance)]

    async def report(self, node_id: str, start: StartInstance, state: str, **kw: Any) -> None:
        update = InstanceStatus(
            instance_id=start.instance_id, deployment_id=start.deployment_id, state=state, **kw
        )
        await self.registry.tell(NodeStatuses(node_id, self.sessions[node_id], (update,)))
        await trio.testing.wait_all_tasks_blocked()

    def view(self, name: str) -> dict[str, Any]:
        record = self.store.get_deployment(name)
        assert record is not None
        return deployment_json(record, self.store.list_instances(deployment_id=record.id))

    def events(self, name: str) -> list[str]:
        record = self.store.get_deployment(name)
        assert record is not None
        return [e.message for e in self.store.list_events(deployment_id=record.id)]


@pytest.fixture
async def cluster(tmp_path: Path) -> AsyncIterator[Cluster]:
    async with running_cluster(tmp_path / "symphony.db") as running:
        yield running


def conductor_tree(
    store: Store,
    *,
    node_timeout_sec: float,
    timetable: ActorRef | None = None,
    scheduler: type[Scheduler] = Scheduler,
) -> Supervisor:
    """The Conductor's registry, Scheduler and Deployments manager, wired as in service.py
    (``timetable``: what the manager pokes when schedules may have changed)."""
    events = EventLog(store)

    def registry() -> NodeRegistry:
        # The Scheduler hears of nodes through the Deployments manager, after the
        # hello's report was applied (see deployments/manager.py).
        subscribers = (tree.child("deployments"),)
        return NodeRegistry(node_timeout_sec=node_timeout_sec, subscribers=subscribers)

    def deployments() -> Deployments:
        return Deployments(
            store=store,
            scheduler=tree.child("scheduler"),
            registry=tree.child("registry"),
            events=events,
            timetable=timetable,
        )

    tree = Supervisor(
        [
            ChildSpec(name="registry", factory=registry),
            ChildSpec(name="scheduler", factory=scheduler),
            ChildSpec(name="deployments", factory=deployments),
        ],
        strategy="rest_for_one",
    )
    return tree


async def connect_nodes(
    nursery: trio.Nursery,
    tree: Supervisor,
    nodes: tuple[str, ...],
    commands: list[tuple[str, Any]],
    runs: tuple[InstanceStatus, ...] = (),
) -> dict[str, ActorRef]:
    """Register a recording link for each of ``nodes`` (each says hello, listing ``runs``
    as what it still runs); their sessions."""
    sessions = {}
    for node_id in nodes:
        sessions[node_id] = await spawn(nursery, NodeLink(node_id, commands))
        hello = Hello(
            protocol_version=PROTOCOL_VERSION,
            node_id=node_id,
            groups=("gpu-1",),
            capacities_total={"Analytic1": 4},
            instances=runs,
        )
        refusal = await tree.child("registry").ask(
            RegisterNode(sessions[node_id], hello, "test", False, 1.0)
        )
        assert refusal is None
    return sessions


@contextlib.asynccontextmanager
async def running_cluster(
    db: Path, *, store_class: type[Store] = Store, timetable: ActorRef | None = None
) -> AsyncIterator[Cluster]:
    """The Conductor's actors on the store at ``db`` (opened as ``store_class``), with
    both nodes connected."""
    store = store_class.open(db)
    tree = conductor_tree(store, node_timeout_sec=1e9, timetable=timetable)
    commands: list[tuple[str, Any]] = []
    async with trio.open_nursery() as nursery:
        await spawn(nursery, tree, name="conductor")
        sessions = await connect_nodes(nursery, tree, NODES, commands)
        yield Cluster(
            store,
            tree.child("deployments"),
            tree.child("registry"),
            sessions,
            commands,
            tree.child("scheduler"),
        )
        nursery.cancel_scope.cancel()
    store.close()


def announced_delay(event: str) -> float:
    """The delay a "rescheduled" event announces, in seconds."""
    match = re.search(r"rescheduled in ([0-9.]+) s", event)
    assert match, event
    return float(match.group(1))


def spec(name: str, **extra: Any) -> Any:
    data = {
        "name": name,
        "node_group": "gpu-1",
        "capacity_requests": {"Analytic1": 1},
        "config": {"command": ["false"]},
        "reschedule": {"attempts": 2, "delay_seconds": 5, "max_delay_seconds": 60},
    }
    data.update(extra)
    return parse_spec(data)


async def test_reschedule_failed_replica_then_fail_deployment_then_start_afresh(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    await cluster.deployments.ask(CreateDeployment(spec("flaky")))
    await trio.testing.wait_all_tasks_blocked()
    [(first_node, first)] = cluster.starts()
    other = next(n for n in NODES if n != first_node)

    await cluster.report(first_node, first, "failed", reason="restart budget spent", final=True)
    delay = announced_delay(cluster.events("flaky")[-1])
    assert 4.5 <= delay <= 5.5  # 5 s, with 10 % jitter
    assert cluster.events("flaky")[-1] == (
        f"replica 0 will be rescheduled in {delay:.1f} s "
        f"(attempt 1 of 2, preferring a node other than {first_node})"
    )
    assert cluster.view("flaky")["state"] == "pending"
    await trio.sleep(delay - 0.1)
    assert len(cluster.starts()) == 1  # not before the announced delay
    await trio.sleep(0.2)
    assert len(cluster.starts()) == 2
    second_node, second = cluster.starts()[-1]
    assert (second_node, second.replica) == (other, 0)
    assert second.instance_id != first.instance_id

    await cluster.report(second_node, second, "running", pid=42)
    await cluster.report(second_node, second, "failed", reason="restart budget spent", final=True)
    assert "(attempt 2 of 2" in cluster.events("flaky")[-1]
    delay = announced_delay(cluster.events("flaky")[-1])
    assert 9.0 <= delay <= 11.0  # doubled
    await trio.sleep(delay - 0.1)
    assert len(cluster.starts()) == 2
    await trio.sleep(0.2)
    third_node, third = cluster.starts()[-1]
    assert len(cluster.starts()) == 3

    # The last attempt fails too: the deployment is failed, says why, and stays so.
    await cluster.report(third_node, third, "failed", reason="exit code 1", final=True)
    view = cluster.view("flaky")
    assert view["state"] == "failed"
    assert view["failure"] == "replica 0 failed after 2 reschedule attempt(s): exit code 1"
    assert cluster.events("flaky")[-1] == f"deployment failed: {view['failure']}"
    await trio.sleep(3600)
    assert len(cluster.starts()) == 3

    # "symphony start": afresh, with the attempts counted from zero again.
    await cluster.deployments.ask(UpdateDeployment("flaky", {"desired_state": "running"}))
    await trio.testing.wait_all_tasks_blocked()
    assert len(cluster.starts()) == 4
    assert cluster.view("flaky")["failure"] is None
    assert cluster.view("flaky")["state"] != "failed"
    fourth_node, fourth = cluster.starts()[-1]
    await cluster.report(fourth_node, fourth, "failed", reason="again", final=True)
    assert "(attempt 1 of 2" in cluster.events("flaky")[-1]


async def test_reschedule_survives_a_restart_and_a_failed_deployment_stays_failed(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    db = tmp_path / "symphony.db"
    one_attempt = {"attempts": 1, "delay_seconds": 5, "max_delay_seconds": 60}
    async with running_cluster(db) as cluster:
        await cluster.deployments.ask(CreateDeployment(spec("flaky", reschedule=one_attempt)))
        await trio.testing.wait_all_tasks_blocked()
        [(node, first)] = cluster.starts()
        await cluster.report(node, first, "failed", reason="crashed", final=True)
        assert "(attempt 1 of 1" in cluster.events("flaky")[-1]
    # The Conductor restarts before the delay is over: the reschedule is not forgotten.
    async with running_cluster(db) as cluster:
        await trio.testing.wait_all_tasks_blocked()
        assert cluster.starts() == []
        await trio.sleep(5 * 1.1 + 0.1)  # the delay, its jitter at most
        [(node, second)] = cluster.starts()
        assert second.replica == 0 and second.instance_id != first.instance_id
        await cluster.report(node, second, "failed", reason="crashed again", final=True)
        assert cluster.view("flaky")["state"] == "failed"
    # ...and a failed deployment stays failed across a restart.
    async with running_cluster(db) as cluster:
        await trio.sleep(3600)
        assert cluster.starts() == []
        view = cluster.view("flaky")
        assert (view["state"], view["failure"]) == (
            "failed",
            "replica 0 failed after 1 reschedule attempt(s): crashed again",
        )
