"""A PATCH back to a version that rolled out good, while a newer version's canaries
wait: it goes back as a rollback does, without canaries, and the version stays good
(as a roll's canaries its instances were marked `canary`, then `superseded` by the
next change, and a planner trimming old instances stopped one of them: no good version
was left to go back to)."""

from __future__ import annotations

import trio
import trio.testing

from ..deployments.test_reschedule import Cluster, cluster
from .test_roll_canary_replaced import version_1_with_canaries
from .test_roll_own_health import live, statuses
from .test_roll_timers import change

__all__ = ["cluster"]


async def test_a_patch_back_to_a_good_version_while_canaries_wait_keeps_it_good(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    nodes = await version_1_with_canaries(cluster)
    v1_config = cluster.store.get_deployment("web").spec.to_dict()["config"]  # type: ignore[union-attr]
    await change(cluster, "web", {"config": {"command": ["sleep", "2"]}})
    await nodes.run_for(30)
    assert cluster.view("web")["rollout"]["state"] == "canary"
    await change(cluster, "web", {"config": v1_config})  # back to version 1's template
    await nodes.run_for(60)
    assert cluster.view("web")["version"] == 1
    assert statuses(cluster, "web")[1] == "good"
    assert sorted(i["version"] for i in live(cluster, "web")) == [1, 1]
    await change(cluster, "web", {"config": {"command": ["sleep", "3"]}})
    await nodes.run_for(60)
    events = "\n".join(cluster.events("web"))
    assert statuses(cluster, "web")[1] == "good", events  # still one to go back to
    assert sorted(i["version"] for i in live(cluster, "web")) == [1, 1, 3], events
