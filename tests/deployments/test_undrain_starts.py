"""An undrain starts no replacement only to stop it (real actors, virtual clock).

A drain's replacement that fits nowhere else waits, pending, while the old instance
keeps running on the draining node. When that node is undrained the replacement is not
needed (its supervisor stops it), but the Scheduler heard of the undrain first and
placed it on that very node: a start, then a stop at once. Not an experiment's matter:
any deployment's replacement did it.
"""

from __future__ import annotations

import trio
import trio.testing

from symphony.conductor.deployments import CreateDeployment
from symphony.conductor.nodes.model import SetDraining
from symphony.wire import StartInstance

from .test_reschedule import Cluster, cluster, spec

__all__ = ["cluster"]


async def one_waiting_replacement(cluster: Cluster) -> str:
    """``web`` runs on a node that is then drained; its replacement fits nowhere (the
    other node is full) and waits, pending. The drained node."""
    web = spec("web", capacity_requests={"Analytic1": 2}, config={"command": ["sleep", "1"]})
    await cluster.deployments.ask(CreateDeployment(web))
    await trio.testing.wait_all_tasks_blocked()
    filler = spec("filler", capacity_requests={"Analytic1": 4}, config={"command": ["true"]})
    await cluster.deployments.ask(CreateDeployment(filler))  # the other node is full
    await trio.testing.wait_all_tasks_blocked()
    starts = {c.deployment_name: (n, c) for n, c in cluster.starts()}
    web_node, web_start = starts["web"]
    assert starts["filler"][0] != web_node
    await cluster.report(web_node, web_start, "running", pid=10)
    await cluster.registry.ask(SetDraining(web_node, True))
    await trio.testing.wait_all_tasks_blocked()
    assert len(cluster.starts()) == 2  # the replacement fits nowhere: it waits
    assert [i["state"] for i in cluster.view("web")["instances"]].count("pending") == 1
    return web_node


async def test_an_undrain_does_not_place_the_replacement_it_makes_unneeded(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    web_node = await one_waiting_replacement(cluster)
    await cluster.registry.ask(SetDraining(web_node, False))
    await trio.testing.wait_all_tasks_blocked()
    assert len(cluster.starts()) == 2, cluster.starts()  # nothing started to be stopped
    states = sorted(i["state"] for i in cluster.view("web")["instances"])
    assert states == ["running", "stopped"], states
    assert not [c for _, c in cluster.commands if isinstance(c, StartInstance)][2:]
