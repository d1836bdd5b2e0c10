"""A roll that fails while a newer change waits for its supervisor: the change wins.

The manager stores a change (and answers the API) before its supervisor handles it; a
roll failing meanwhile must not go back to the last good version over it, which would
lose a change the user was told was made. Real actors on a virtual clock, as in
``test_roll_timers.py``.
"""

from __future__ import annotations

import trio
import trio.testing

from symphony.conductor.deployments import CreateDeployment

from ..deployments.test_reschedule import Cluster, cluster, spec
from ..deployments.test_undrain_bounded import Pause, _supervisor, pausable
from .test_roll_timers import change, latest_start

__all__ = ["cluster", "pausable"]  # the fixtures, used by name


async def test_a_failed_roll_does_not_revert_over_a_change_stored_meanwhile(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    await cluster.deployments.ask(CreateDeployment(spec("web", update={"min_healthy_seconds": 1})))
    await trio.testing.wait_all_tasks_blocked()
    node1, v1 = latest_start(cluster)
    await cluster.report(node1, v1, "running", pid=10)
    await change(cluster, "web", {"config": {"command": ["sleep", "2"]}})
    node2, v2 = latest_start(cluster)
    await _supervisor("web").tell(Pause(10))
    await cluster.report(node2, v2, "failed", reason="crashed", final=True)  # waits
    await change(cluster, "web", {"replicas": 2})  # stored and answered: it must stay
    await trio.sleep(60)
    await trio.testing.wait_all_tasks_blocked()
    view = cluster.view("web")
    assert view["spec"]["replicas"] == 2, "\n".join(cluster.events("web"))
    events = cluster.events("web")
    assert any("not reverted: a newer change" in e for e in events), "\n".join(events)
