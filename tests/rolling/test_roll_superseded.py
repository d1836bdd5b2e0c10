"""A roll that fails or ends while a newer change waits for its supervisor.

The manager stores a change (and answers the API) before its supervisor handles it. A
roll failing meanwhile must not go back to the last good version over it, which would
lose a change the user was told was made; nor may it go on rolling the failed version
when that change only set something else (the replicas, say): it goes back under the
change, keeping what it set. A roll done meanwhile tells so once, under the change.
Real actors on a virtual clock, as in ``test_roll_timers.py``.
"""

from __future__ import annotations

from typing import Any

import pytest
import trio
import trio.testing

from symphony.conductor.deployments import CreateDeployment, UpdateDeployment
from symphony.conductor.deployments.manager import Failed
from symphony.conductor.deployments.messages import RollbackDeployment
from symphony.wire import StartInstance

from ..deployments.test_reschedule import Cluster, cluster, spec
from ..deployments.test_stuck_supervisor import Crash, fill
from ..deployments.test_undrain_bounded import Pause, _supervisor, pausable
from .test_roll_timers import change, latest_start, version_1_refused_now

__all__ = ["cluster", "pausable"]  # the fixtures, used by name

VERSION_2 = {"config": {"command": ["sleep", "2"]}}


async def _version_2_rolls(cluster: Cluster, **update: Any) -> tuple[str, StartInstance]:
    """Version 1 runs and version 2 rolls: its instance started (and its node)."""
    policy = {"min_healthy_seconds": 1, **update}
    await cluster.deployments.ask(CreateDeployment(spec("web", update=policy)))
    await trio.testing.wait_all_tasks_blocked()
    node1, v1 = latest_start(cluster)
    await cluster.report(node1, v1, "running", pid=10)
    await change(cluster, "web", VERSION_2)
    return latest_start(cluster)


async def _version_2_fails_behind(
    cluster: Cluster, patch: dict[str, Any], **update: Any
) -> StartInstance:
    """Version 1 runs, version 2 rolls, and its instance fails while the supervisor is
    busy; ``patch`` is stored (and answered) before the supervisor hears of the failure.
    Returns version 2's instance, once the supervisor has handled both."""
    node2, v2 = await _version_2_rolls(cluster, **update)
    await _supervisor("web").tell(Pause(10))
    await cluster.report(node2, v2, "failed", reason="crashed", final=True)  # waits
    await change(cluster, "web", patch)  # stored and answered: it must stay
    await trio.sleep(11)  # no more: the failure is acted on as soon as it is handled
    await trio.testing.wait_all_tasks_blocked()
    return v2


def _version_2_starts(cluster: Cluster) -> list[str]:
    starts = cluster.starts()
    return [s.instance_id for _, s in starts if list(s.spec.config.command) == ["sleep", "2"]]


async def test_a_failed_roll_reverts_under_a_change_of_settings_stored_meanwhile(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """The change still rolls the failed version: going on would start another
    instance of it, and revert only at its health deadline. It reverts at once, under
    the change, keeping its replicas, as if it had been told first."""
    v2 = await _version_2_fails_behind(cluster, {"replicas": 2})
    events = "\n".join(cluster.events("web"))
    assert _version_2_starts(cluster) == [v2.instance_id], events  # no second one
    view = cluster.view("web")
    assert view["version"] == 1 and view["spec"]["replicas"] == 2, events
    assert view["rollout"]["state"] == "reverting", events
    assert "version 2 failed: instance" in events and "reverting to version 1" in events


async def test_a_failed_roll_without_auto_revert_pauses_under_a_change_stored_meanwhile(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    v2 = await _version_2_fails_behind(cluster, {"replicas": 2}, auto_revert=False)
    events = "\n".join(cluster.events("web"))
    assert _version_2_starts(cluster) == [v2.instance_id], events
    view = cluster.view("web")
    assert view["spec"]["replicas"] == 2 and view["rollout"]["state"] == "paused", events
    assert "version 2 failed" in view["rollout"]["reason"], view["rollout"]


async def test_a_failed_roll_does_not_revert_over_a_new_version_stored_meanwhile(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """A change to a new version supersedes the failed roll: version 3 rolls."""
    await _version_2_fails_behind(cluster, {"config": {"command": ["sleep", "3"]}})
    events = "\n".join(cluster.events("web"))
    view = cluster.view("web")
    assert view["version"] == 3 and view["rollout"]["state"] == "rolling", events
    assert "reverting" not in events, events
    kept = _statuses(cluster)
    assert kept == {1: "good", 2: "superseded", 3: "rolling"}, events  # 2's roll ended
    await trio.sleep(10)  # replica 0 waits out its reschedule delay (v2's failure)
    await trio.testing.wait_all_tasks_blocked()
    node, v3 = latest_start(cluster)
    assert list(v3.spec.config.command) == ["sleep", "3"], events
    await cluster.report(node, v3, "running", pid=12)
    await trio.sleep(60)
    await trio.testing.wait_all_tasks_blocked()
    assert cluster.view("web")["rollout"] is None, "\n".join(cluster.events("web"))


async def test_a_roll_done_while_a_change_waits_tells_its_end_once(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """The roll ends before its supervisor hears of a change stored meanwhile: its end
    is not written (the change's roll state is the one stored), so the roll goes on
    under the change and tells its end then, not twice."""
    policy = {"min_healthy_seconds": 10}
    command = {"config": {"command": ["sleep", "1"]}}
    await cluster.deployments.ask(CreateDeployment(spec("web", update=policy, **command)))
    await trio.testing.wait_all_tasks_blocked()
    node1, v1 = latest_start(cluster)
    await cluster.report(node1, v1, "running", pid=10)
    await change(cluster, "web", VERSION_2)
    node2, v2 = latest_start(cluster)
    await cluster.report(node2, v2, "running", pid=11)
    await trio.sleep(9)
    await _supervisor("web").tell(Pause(10))  # the roll's last tick waits behind it
    await trio.sleep(1.5)
    await change(cluster, "web", {"replicas": 2})
    await trio.sleep(10)
    await trio.testing.wait_all_tasks_blocked()
    await cluster.report(node1, v1, "stopped", final=True)
    [(node3, v3)] = cluster.starts()[2:]
    await cluster.report(node3, v3, "running", pid=12)
    await trio.sleep(60)
    await trio.testing.wait_all_tasks_blocked()
    events = cluster.events("web")
    ended = [e for e in events if "rolled out" in e]
    assert ended == ["version 2 rolled out: 2 healthy instance(s)"], "\n".join(events)
    assert cluster.view("web")["rollout"] is None


@pytest.mark.parametrize("restart", [False, True])
async def test_a_rollback_merged_behind_a_failed_roll_of_its_version_is_kept(
    cluster: Cluster, autojump_clock: trio.abc.Clock, restart: bool
) -> None:
    """Version 2 fails while its supervisor is busy and its mailbox full; meanwhile a
    change of replicas (version 2 still), a change to version 3, and a rollback to
    version 2 are stored. The rollback takes version 3's place in the queue: the
    supervisor sees it as a change from version 2 to version 2, but it starts a new
    roll, so the failure of the roll before must not revert the rollback the API
    answered "version 2" to; nor must the supervisor, restarted once it handled the
    rollback, read that failure back from the version's status."""
    node2, v2 = await _version_2_rolls(cluster)
    ref = _supervisor("web")
    await ref.tell(Pause(10))
    await trio.testing.wait_all_tasks_blocked()
    await cluster.report(node2, v2, "failed", reason="crashed", final=True)  # waits
    fill(ref)
    await cluster.deployments.ask(UpdateDeployment("web", {"replicas": 1}))
    await cluster.deployments.ask(UpdateDeployment("web", {"config": {"command": ["sleep", "3"]}}))
    back = await cluster.deployments.ask(RollbackDeployment("web", 2))
    assert back.version == 2
    await trio.sleep(11)
    await trio.testing.wait_all_tasks_blocked()
    if restart:
        await _supervisor("web").tell(Crash())
    await trio.sleep(19)
    await trio.testing.wait_all_tasks_blocked()
    events = "\n".join(cluster.events("web"))
    assert cluster.view("web")["version"] == 2, events


async def test_a_rollback_stored_before_a_restart_is_not_reverted_by_the_roll_before(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """Version 2 fails while its supervisor is busy; the supervisor crashes right after
    it handled that failure, and before it is told a change to version 3 and a rollback
    to version 2, both stored meanwhile. The failure, under an older generation, is
    not written to version 2's status (the rollback stored it rolling again): the
    restarted supervisor reads no failure back, and the rollback stands."""
    node2, v2 = await _version_2_rolls(cluster)
    ref = _supervisor("web")
    await ref.tell(Pause(10))
    await trio.testing.wait_all_tasks_blocked()
    await cluster.report(node2, v2, "failed", reason="crashed", final=True)  # waits
    await ref.tell(Crash())
    await cluster.deployments.ask(UpdateDeployment("web", {"config": {"command": ["sleep", "3"]}}))
    back = await cluster.deployments.ask(RollbackDeployment("web", 2))
    assert back.version == 2
    await trio.sleep(30)
    await trio.testing.wait_all_tasks_blocked()
    assert _supervisor("web") is not ref  # restarted
    events = "\n".join(cluster.events("web"))
    assert cluster.view("web")["version"] == 2, events
    assert "reverting" not in events, events


async def test_a_failure_whose_revert_is_refused_says_so_once_under_a_change_stored_meanwhile(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """Version 1 is refused by a rule added since it was stored (as in
    ``test_roll_timers.py``), so the failed roll pauses; the pause waits for the change
    stored meanwhile, and then says why version 1 is refused once, not twice."""
    node2, v2 = await version_1_refused_now(cluster, "web")
    await _supervisor("web").tell(Pause(10))
    await cluster.report(node2, v2, "failed", reason="crashed", final=True)  # waits
    await change(cluster, "web", {"replicas": 2})
    await trio.sleep(11)
    await trio.testing.wait_all_tasks_blocked()
    rollout = cluster.view("web")["rollout"]
    assert rollout["state"] == "paused", rollout
    assert rollout["reason"].count("is refused now") == 1, rollout["reason"]


async def test_a_revert_cut_short_leaves_the_good_version_good_for_a_rollback(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """Version 2 fails and the revert to version 1 is under way (version 1's instance is
    restarting) when a PATCH makes version 3. Version 1 proved itself before: going
    back to it leaves it good (the roll state says it rolls), so the PATCH does not
    mark it superseded, and a plain rollback still goes back to it."""
    node2, v2 = await _version_2_rolls(cluster, healthy_deadline_seconds=20)
    node1, v1 = cluster.starts()[0]
    await cluster.report(node2, v2, "restarting", reason="exited with code 1")
    await cluster.report(node1, v1, "restarting", reason="exited with code 1")
    await trio.sleep(20.1)  # version 2 fails at its deadline: back to version 1
    await trio.testing.wait_all_tasks_blocked()
    view = cluster.view("web")
    events = "\n".join(cluster.events("web"))
    assert (view["version"], view["rollout"]["state"]) == (1, "reverting"), events
    assert _statuses(cluster) == {1: "good", 2: "failed"}, events
    await change(cluster, "web", {"config": {"command": ["sleep", "3"]}})
    assert _statuses(cluster) == {1: "good", 2: "failed", 3: "rolling"}, events
    back = await cluster.deployments.ask(RollbackDeployment("web", None))
    assert not isinstance(back, Failed) and back.version == 1, back


def _statuses(cluster: Cluster) -> dict[int, str]:
    record = cluster.store.get_deployment("web")
    assert record is not None
    return {v.version: v.status for v in cluster.store.list_versions(record.id)}
