"""A change while canaries wait for a promote replaces the canaries.

With ``canary: 1`` still set, a PATCH making version 3 while version 2's canary waits
must stop that canary (it is neither the good version's nor the new one's) and start
version 3's, which then waits for a promote as the docs say. Counting the superseded
canary as one of the old instances filled the slot of the new canary: version 3 stayed
``rolling`` with no new instance and no deadline, for ever. Real actors on a virtual
clock, as in ``test_roll_timers.py``.
"""

from __future__ import annotations

import trio
import trio.testing

from symphony.conductor.deployments import CreateDeployment

from ..deployments.test_reschedule import Cluster, cluster, spec
from .test_roll_own_health import Nodes, live, statuses
from .test_roll_timers import change

__all__ = ["cluster"]  # the fixture, used by name


async def version_1_with_canaries(cluster: Cluster) -> Nodes:
    """Version 1 of ``web`` running, 2 replicas, its changes rolled with 1 canary."""
    nodes = Nodes(cluster)
    update = {"canary": 1, "min_healthy_seconds": 5}
    await cluster.deployments.ask(CreateDeployment(spec("web", replicas=2, update=update)))
    await nodes.run_for(1)
    return nodes


async def test_a_new_version_while_canaries_wait_replaces_the_canaries(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    nodes = await version_1_with_canaries(cluster)
    v1 = {i["id"] for i in live(cluster, "web")}
    await change(cluster, "web", {"config": {"command": ["sleep", "2"]}})
    await nodes.run_for(30)
    assert cluster.view("web")["rollout"]["state"] == "canary"
    [v2] = [i["id"] for i in live(cluster, "web") if i["version"] == 2]
    await change(cluster, "web", {"config": {"command": ["sleep", "3"]}})
    most = 0
    for _ in range(60):  # 30 s, counting the live instances every half second
        await nodes.run_for(0.5)
        most = max(most, len(live(cluster, "web")))
    events = "\n".join(cluster.events("web"))
    view = cluster.view("web")
    assert view["version"] == 3 and view["rollout"]["state"] == "canary", events
    assert (view["rollout"]["new"], view["rollout"]["new_healthy"]) == (1, 1), events
    ids = {i["id"]: i["version"] for i in live(cluster, "web")}
    assert v2 not in ids and v1 <= set(ids), events  # the good version's stay
    assert sorted(ids.values()) == [1, 1, 3], events
    assert most <= 2 + 1, events  # replicas + canary: the one stopping still counts
    assert statuses(cluster, "web") == {1: "good", 2: "superseded", 3: "canary"}, events


async def test_the_superseded_canary_stops_not_a_good_instance_healthy_for_less_time(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """One of version 1's instances restarted after version 2's canary was healthy: it
    has served for less time, but it is the good version's, and the canary is the one
    that stops."""
    nodes = Nodes(cluster)
    update = {"canary": 1, "min_healthy_seconds": 5}
    await cluster.deployments.ask(CreateDeployment(spec("web", replicas=2, update=update)))
    await nodes.run_for(1)
    await change(cluster, "web", {"config": {"command": ["sleep", "2"]}})
    await nodes.run_for(30)
    [v2] = [i["id"] for i in live(cluster, "web") if i["version"] == 2]
    node, v1 = cluster.starts()[1]
    await cluster.report(node, v1, "restarting", reason="exited with code 1")
    await nodes.run_for(1)
    await cluster.report(node, v1, "running", pid=2)
    await nodes.run_for(1)
    await change(cluster, "web", {"config": {"command": ["sleep", "3"]}})
    await nodes.run_for(30)
    events = "\n".join(cluster.events("web"))
    ids = {i["id"]: i["version"] for i in live(cluster, "web")}
    assert v2 not in ids and v1.instance_id in ids, events
    assert sorted(ids.values()) == [1, 1, 3], events
    assert cluster.view("web")["rollout"]["state"] == "canary", events
