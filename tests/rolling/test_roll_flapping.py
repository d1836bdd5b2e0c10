"""PATCHes flipping a roll between two broken versions never keep it from failing.

Each instance of the version rolled to has ``healthy_deadline_seconds`` from when the
roll first saw it as one; a PATCH back to its version (a kept template made current
again) does not start that deadline again, or an operator flipping between two
templates every minute would keep a never-healthy instance rolling for ever. Real
actors on a virtual clock, as in ``test_roll_timers.py``.
"""

from __future__ import annotations

import trio
import trio.testing

from symphony.conductor.deployments import CreateDeployment

from ..deployments.test_reschedule import Cluster, cluster, spec
from .test_roll_own_health import READY, Nodes, live, statuses
from .test_roll_timers import change

__all__ = ["cluster"]  # the fixture, used by name


async def test_patches_flipping_between_two_broken_versions_still_fail_the_roll(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """Version 1 runs 2 replicas; version 2 adds a check its instance never passes, and
    one of version 1's instances is lost meanwhile, so version 2's instance is no
    surplus: when a PATCH makes version 3 (another broken template) it runs on beside
    version 3's, and the next PATCH, back to version 2's template, makes it new again.
    Flipping every 60 s, version 2's instance is still not healthy 120 s after it was
    first seen, at the flip back: the roll fails then and goes back to version 1."""
    nodes = Nodes(cluster)
    await cluster.deployments.ask(CreateDeployment(spec("web", replicas=2)))
    await nodes.run_for(1)
    v1 = [start for _, start in cluster.starts()]
    began = trio.current_time()
    await change(cluster, "web", {"config": {"command": ["sleep", "2"]}, "health_check": READY})
    await nodes.run_for(1)
    [v2] = [i["id"] for i in live(cluster, "web") if i["version"] == 2]
    node, lost = next((n, s) for n, s in cluster.starts() if s.instance_id == v1[1].instance_id)
    await cluster.report(node, lost, "failed", final=True, reason="node lost")
    templates = [["sleep", "3"], ["sleep", "2"]]
    for flip in range(12):  # 12 minutes: the deadline is 2
        await nodes.run_for(began + 60 * (flip + 1) - trio.current_time())
        if cluster.view("web")["version"] == 1:
            break
        patch = {"config": {"command": templates[flip % 2]}, "health_check": READY}
        await change(cluster, "web", patch)
    events = "\n".join(cluster.events("web"))
    failed = f"version 2 failed: instance {v2} was not healthy within 120 s"
    assert failed in events and "reverting to version 1" in events, events
    assert trio.current_time() - began <= 180, events  # at the flip back, 120 s in
    assert statuses(cluster, "web")[1] == "good", events
