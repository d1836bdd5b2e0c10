"""A node that confirms a stop without knowing the deployment still ends the instance.

The wire contract for a stop that overtakes its start: the node never starts the
instance and reports it ``stopped``. A ``StopInstance`` carries no deployment id, so
such a node may report ``deployment_id: "unknown"``; the Conductor finds the owner by
the instance id.
"""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing

from symphony.conductor.deployments import CapacityUsage, CreateDeployment, UpdateDeployment
from symphony.wire import StartInstance, StopInstance

from .test_reschedule import running_cluster, spec


async def test_stop_confirmed_with_unknown_deployment_ends_the_instance(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    async with running_cluster(tmp_path / "symphony.db") as cluster:
        await cluster.deployments.ask(CreateDeployment(spec("web", replicas=2)))
        await trio.testing.wait_all_tasks_blocked()
        starts = cluster.starts()
        assert len(starts) == 2
        await cluster.deployments.ask(UpdateDeployment("web", {"replicas": 0}))
        await trio.testing.wait_all_tasks_blocked()
        stops = [(n, c) for n, c in cluster.commands if isinstance(c, StopInstance)]
        assert sorted(c.instance_id for _, c in stops) == sorted(c.instance_id for _, c in starts)
        assert {i["state"] for i in cluster.view("web")["instances"]} == {"stopping"}
        assert _reserved(await cluster.scheduler.ask(CapacityUsage())) == 2  # until confirmed

        for node_id, stop in stops:
            unknown = StartInstance(
                instance_id=stop.instance_id,
                deployment_id="unknown",
                deployment_name="unknown",
                replica=0,
                spec=starts[0][1].spec,
            )
            await cluster.report(node_id, unknown, "stopped", final=True)
        instances = cluster.view("web")["instances"]
        assert [i["state"] for i in instances] == ["stopped", "stopped"]
        assert all(i["finished_at"] is not None for i in instances)
        assert _reserved(await cluster.scheduler.ask(CapacityUsage())) == 0


def _reserved(usage: dict[str, dict[str, int]]) -> int:
    return sum(sum(by_class.values()) for by_class in usage.values())
