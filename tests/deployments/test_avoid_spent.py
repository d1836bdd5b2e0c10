"""The nodes a replica's next instance avoids (after a failure or a lost node) are spent
once an instance of it runs: they no longer steer where it goes afterwards.

Real actors on a virtual clock (see ``test_reschedule.py``). An avoid left over made
every later placement of the replica (a rolling restart's, a restart to reconnect's)
shun the very node it runs well on, and an experiment's process lose its ports there.
"""

from __future__ import annotations

import trio
import trio.testing

from symphony.conductor.deployments import CreateDeployment
from symphony.conductor.deployments.messages import RestartDeployment
from symphony.conductor.nodes.model import SetDraining

from .test_reschedule import Cluster, announced_delay, cluster, spec

__all__ = ["cluster"]


async def test_a_replica_running_where_it_once_failed_is_placed_there_again(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    web = spec("web", placement={"strategy": "binpack"}, config={"command": ["sleep", "1"]})
    await cluster.deployments.ask(CreateDeployment(web))
    await trio.testing.wait_all_tasks_blocked()
    [(node, first)] = cluster.starts()
    other = next(n for n in cluster.sessions if n != node)
    await cluster.registry.ask(SetDraining(other, True))  # the retry can go nowhere else
    await cluster.report(node, first, "failed", reason="exit code 1", final=True)
    await trio.sleep(announced_delay(cluster.events("web")[-1]) + 1)
    await trio.testing.wait_all_tasks_blocked()
    [(again_node, again)] = cluster.starts()[1:]
    assert again_node == node
    await cluster.report(node, again, "running", pid=7)  # it runs well there now
    await cluster.registry.ask(SetDraining(other, False))
    await trio.testing.wait_all_tasks_blocked()
    await cluster.deployments.ask(RestartDeployment("web"))
    await trio.testing.wait_all_tasks_blocked()
    # Binpack fills the node it runs on: no failure there steers it away any more.
    assert [n for n, _ in cluster.starts()[2:]] == [node], cluster.commands
