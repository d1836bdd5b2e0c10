"""A DeploymentSupervisor reconciles only when something reconciling reads may have
changed: not at the start of a deployment just created with its first instances, and
not when the Scheduler's news only says why an instance waits (no node fits). What
clients see is the same: the reason and its event are saved, and every other change
still reconciles (a placement, a scale-up, a start)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from symphony.conductor.deployments import CreateDeployment, UpdateDeployment
from symphony.conductor.deployments.supervisor import DeploymentSupervisor
from symphony.conductor.nodes.model import SetDraining
from symphony.wire import StartInstance, StopInstance

from .test_reschedule import Cluster, running_cluster, spec


@pytest.fixture
def reconciles(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The deployment names whose supervisors reconciled, one entry per reconcile."""
    calls: list[str] = []
    real = DeploymentSupervisor._reconcile

    async def counted(self: DeploymentSupervisor) -> None:
        calls.append(self.record.name)
        await real(self)

    monkeypatch.setattr(DeploymentSupervisor, "_reconcile", counted)
    yield calls


def nowhere(name: str, **extra: Any) -> Any:
    """A spec no node fits (no node is in its group)."""
    return spec(name, node_group="nowhere", **extra)


async def test_a_create_no_node_fits_saves_its_reason_without_reconciling(
    tmp_path: Path, reconciles: list[str]
) -> None:
    async with running_cluster(tmp_path / "db") as cluster:
        await cluster.deployments.ask(CreateDeployment(nowhere("lonely")))
        await trio.testing.wait_all_tasks_blocked()
        [inst] = cluster.view("lonely")["instances"]
        assert inst["state"] == "pending"
        assert "nowhere" in inst["reason"]
        assert cluster.events("lonely")[-1] == f"{inst['id']} pending: {inst['reason']}"
        assert reconciles == []
        # Anything else still reconciles: two replicas, the second one made.
        await cluster.deployments.ask(UpdateDeployment("lonely", {"replicas": 2}))
        await trio.testing.wait_all_tasks_blocked()
        assert reconciles == ["lonely"]
        assert sorted(i["replica"] for i in cluster.view("lonely")["instances"]) == [0, 1]


async def test_a_placed_create_reconciles_after_its_placement(
    tmp_path: Path, reconciles: list[str]
) -> None:
    async with running_cluster(tmp_path / "db") as cluster:
        await cluster.deployments.ask(CreateDeployment(spec("placed")))
        await trio.testing.wait_all_tasks_blocked()
        assert [i["state"] for i in cluster.view("placed")["instances"]] == ["assigned"]
        assert reconciles == ["placed"]  # after the Placed, not at its start


async def test_a_create_stopped_then_started_gets_its_instance(
    tmp_path: Path, reconciles: list[str]
) -> None:
    async with running_cluster(tmp_path / "db") as cluster:
        await cluster.deployments.ask(CreateDeployment(nowhere("later", desired_state="stopped")))
        await trio.testing.wait_all_tasks_blocked()
        assert cluster.view("later")["instances"] == []
        assert reconciles == []
        await cluster.deployments.ask(UpdateDeployment("later", {"desired_state": "running"}))
        await trio.testing.wait_all_tasks_blocked()
        [inst] = cluster.view("later")["instances"]
        assert inst["state"] == "pending" and "nowhere" in inst["reason"]
        assert reconciles == ["later"]  # the start; the reason that followed, not


async def started(cluster: Cluster, *names: str) -> list[tuple[str, StartInstance]]:
    """Create a deployment of one replica for each of ``names``; the starts sent."""
    for name in names:
        await cluster.deployments.ask(CreateDeployment(spec(name)))
    await trio.testing.wait_all_tasks_blocked()
    starts = cluster.starts()
    assert len(starts) == len(names)
    return starts


async def test_a_replacement_running_off_a_draining_node_stops_the_old_copy(
    tmp_path: Path, reconciles: list[str]
) -> None:
    # While a node drains, a replacement's ``running`` (live to live, on its node) is
    # what lets the old copy stop: that report must reconcile, whatever else it skips.
    async with running_cluster(tmp_path / "db") as cluster:
        [(old_node, old)] = await started(cluster, "web")
        await cluster.report(old_node, old, "running", pid=10)
        await cluster.registry.ask(SetDraining(old_node, True))
        await trio.testing.wait_all_tasks_blocked()
        [(new_node, new)] = cluster.starts()[1:]
        assert new_node != old_node
        stops = [c for n, c in cluster.commands if n == old_node and isinstance(c, StopInstance)]
        assert stops == []  # not before the replacement runs
        reconciles.clear()
        await cluster.report(new_node, new, "running", pid=11)
        assert reconciles == ["web"]
        stops = [c for n, c in cluster.commands if n == old_node and isinstance(c, StopInstance)]
        assert [s.instance_id for s in stops] == [old.instance_id]
        assert not [c for _, c in cluster.commands if isinstance(c, StartInstance)][2:]
