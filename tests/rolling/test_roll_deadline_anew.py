"""When a roll's deadlines start anew: after a pause, and in a roll back to a version
that proved good. First-seen times are kept across PATCHes (so flipping between broken
versions fails), but neither a pause nor an earlier roll of a good version may leave a
time that fails the next roll at once."""

from __future__ import annotations

import trio
import trio.testing

from symphony.conductor.deployments import CreateDeployment
from symphony.conductor.deployments.messages import RollbackDeployment

from ..deployments.test_reschedule import Cluster, cluster, spec
from .test_roll_own_health import READY, Nodes, statuses
from .test_roll_timers import change

__all__ = ["cluster"]


async def test_a_rollback_to_a_version_that_failed_before_a_pause_gets_its_whole_deadline(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    nodes = Nodes(cluster)
    await cluster.deployments.ask(
        CreateDeployment(spec("web", replicas=2, update={"auto_revert": False}))
    )
    await nodes.run_for(1)
    v1 = [start for _, start in cluster.starts()]
    await change(cluster, "web", {"config": {"command": ["sleep", "2"]}, "health_check": READY})
    await nodes.run_for(1)
    node, lost = next((n, s) for n, s in cluster.starts() if s.instance_id == v1[1].instance_id)
    await cluster.report(node, lost, "failed", final=True, reason="node lost")
    await nodes.run_for(140)  # version 2 fails at its deadline: the roll pauses
    paused = cluster.view("web")["rollout"]
    assert paused["state"] == "paused", paused
    # During the pause, version 2's instance restarts: no deadline runs meanwhile.
    failed_id = paused["reason"].split()[4]
    node2, v2 = next((n, s) for n, s in cluster.starts() if s.instance_id == failed_id)
    await cluster.report(node2, v2, "restarting", reason="exited with code 1")
    await nodes.run_for(5)
    await cluster.report(node2, v2, "running", pid=2, health="unhealthy")
    await nodes.run_for(600)
    await change(cluster, "web", {"config": {"command": ["sleep", "3"]}, "health_check": READY})
    await nodes.run_for(1)
    await cluster.deployments.ask(RollbackDeployment("web", 2))
    await nodes.run_for(2)
    said = "\n".join(cluster.events("web"))
    assert said.count("version 2 failed") == 1, said  # not again, 1 s into the rollback


async def test_a_rollback_to_a_good_version_is_not_judged_by_an_earlier_roll_of_it(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    nodes = Nodes(cluster, health="healthy")
    await cluster.deployments.ask(CreateDeployment(spec("web", replicas=2, health_check=READY)))
    await nodes.run_for(30)
    node_b, b = cluster.starts()[1]
    await change(cluster, "web", {"config": {"command": ["sleep", "2"]}, "update": {"canary": 1}})
    await nodes.run_for(30)
    # A rollback to version 1 while one of its instances restarts: first seen then.
    await cluster.report(node_b, b, "restarting", reason="check failed")
    await nodes.run_for(1)
    await cluster.deployments.ask(RollbackDeployment("web", 1))
    await nodes.run_for(1)
    await change(cluster, "web", {"config": {"command": ["sleep", "2"]}})
    await nodes.run_for(1)
    await cluster.report(node_b, b, "running", pid=3, health="healthy")
    await nodes.run_for(1000)
    # Long after, the instance restarts by its check, and version 1 is rolled back to.
    await cluster.report(node_b, b, "restarting", reason="check failed")
    await nodes.run_for(1)
    await cluster.deployments.ask(RollbackDeployment("web", 1))
    await nodes.run_for(2)
    assert statuses(cluster, "web")[1] == "good", "\n".join(cluster.events("web"))
