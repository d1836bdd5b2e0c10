"""A node's report of a restart made by its monitor: four updates in one frame, one
transaction on the Conductor, and the events and counters users have always seen."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import trio
import trio.testing

from symphony.conductor.deployments import CreateDeployment
from symphony.conductor.nodes.model import NodeStatuses
from symphony.conductor.store import RESTARTS, Store
from symphony.wire import InstanceStatus

from .test_reschedule import running_cluster, spec


class CountingStore(Store):
    """The real store, counting its write transactions."""

    writes = 0

    @contextlib.contextmanager
    def _write(self, *, fenced: bool = True) -> Iterator[Any]:
        self.writes += 1
        with super()._write(fenced=fenced) as conn:
            yield conn


async def test_a_restart_report_is_one_transaction_with_its_events_and_count(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    async with running_cluster(tmp_path / "db", store_class=CountingStore) as cluster:
        store = cluster.store
        assert isinstance(store, CountingStore)
        await cluster.deployments.ask(CreateDeployment(spec("loop")))
        await trio.testing.wait_all_tasks_blocked()
        [(node, start)] = cluster.starts()
        await cluster.report(node, start, "running", pid=41, started_at=1.0, at=1.0)
        ids = {"instance_id": start.instance_id, "deployment_id": start.deployment_id}
        restart = (
            InstanceStatus(**ids, state="exited", signal=9, restarts=1, final=False, at=2.0),
            InstanceStatus(**ids, state="restarting", restarts=1, restart_at=2.0, at=2.0),
            InstanceStatus(**ids, state="starting", restarts=1, at=2.0),
            InstanceStatus(**ids, state="running", pid=42, started_at=2.0, restarts=1, at=2.0),
        )
        before, events_before = store.writes, len(cluster.events("loop"))
        await cluster.registry.tell(NodeStatuses(node, cluster.sessions[node], restart))
        await trio.testing.wait_all_tasks_blocked()
        assert store.writes - before == 1  # instances, events and the counter together
        assert cluster.events("loop")[events_before:] == [
            f"{start.instance_id} exited with signal SIGKILL",
            f"{start.instance_id} restarting",
            f"{start.instance_id} running on {node} (pid 42)",
        ]
        assert store.counter(RESTARTS) == 1
        (instance,) = cluster.view("loop")["instances"]
        assert (instance["state"], instance["pid"], instance["restarts"]) == ("running", 42, 1)
        assert (instance["signal"], instance["exit_code"]) == ("SIGKILL", None)


async def test_an_exit_the_node_knows_the_reason_of_says_it_in_its_event(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    """A container's runtime failing (its last words), a failed health check: the
    ``exited`` event says why, as ``restarting`` and ``failed`` events do."""
    async with running_cluster(tmp_path / "db") as cluster:
        await cluster.deployments.ask(CreateDeployment(spec("box")))
        await trio.testing.wait_all_tasks_blocked()
        [(node, start)] = cluster.starts()
        await cluster.report(node, start, "running", pid=41, started_at=1.0, at=1.0)
        why = "podman: Error: crun: setrlimit `RLIMIT_NOFILE`: Operation not permitted"
        await cluster.report(node, start, "exited", exit_code=126, reason=why, final=True, at=2.0)
        assert cluster.events("box")[-1] == f"{start.instance_id} exited with code 126: {why}"
        (instance,) = cluster.view("box")["instances"]
        assert (instance["exit_code"], instance["reason"]) == (126, why)
