"""The roll's timers under a virtual clock: the Conductor's actors run in the test's
loop (store, Scheduler, Deployments) and nodes are recording sessions, so
``min_healthy_seconds`` and ``healthy_deadline_seconds`` pass instantly and exactly."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from symphony.conductor.deployments import CreateDeployment, UpdateDeployment
from symphony.conductor.deployments.manager import Failed
from symphony.conductor.deployments.messages import RollbackDeployment
from symphony.spec import parse_stored_spec
from symphony.wire import StartInstance, StopInstance

from ..deployments.test_reschedule import Cluster, cluster, spec

__all__ = ["cluster"]  # the fixture, used by name


def stops(c: Cluster) -> list[str]:
    return [cmd.instance_id for _, cmd in c.commands if isinstance(cmd, StopInstance)]


async def change(c: Cluster, name: str, patch: dict[str, Any]) -> None:
    await c.deployments.ask(UpdateDeployment(name, patch))
    await trio.testing.wait_all_tasks_blocked()


def latest_start(c: Cluster) -> tuple[str, StartInstance]:
    return c.starts()[-1]


async def test_roll_waits_min_healthy_then_reverts_a_late_version(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    update = {"min_healthy_seconds": 10, "healthy_deadline_seconds": 30}
    await cluster.deployments.ask(
        CreateDeployment(spec("web", config={"command": ["sleep", "1"]}, update=update))
    )
    await trio.testing.wait_all_tasks_blocked()
    node1, v1 = latest_start(cluster)
    await cluster.report(node1, v1, "running", pid=10)

    await change(cluster, "web", {"config": {"command": ["sleep", "2"]}})
    node2, v2 = latest_start(cluster)
    assert v2.instance_id != v1.instance_id and v2.spec.config.command == ("sleep", "2")
    await cluster.report(node2, v2, "running", pid=11)
    await trio.sleep(9.9)
    assert stops(cluster) == []  # not healthy long enough yet: the old one runs on
    await trio.sleep(0.2)
    assert stops(cluster) == [v1.instance_id]  # the timer fired: no report needed
    await cluster.report(node1, v1, "stopped", final=True)
    view = cluster.view("web")
    assert (view["version"], view["rollout"]) == (2, None)
    assert "version 2 rolled out: 1 healthy instance(s)" in cluster.events("web")

    # Version 3 never runs: 30 s after its instance was created, back to version 2.
    await change(cluster, "web", {"config": {"command": ["sleep", "3"]}})
    node3, v3 = latest_start(cluster)
    await cluster.report(node3, v3, "restarting", reason="exited with code 1")
    await trio.sleep(29.9)
    assert cluster.view("web")["version"] == 3 and stops(cluster) == [v1.instance_id]
    await trio.sleep(0.2)
    assert stops(cluster) == [v1.instance_id, v3.instance_id]  # v2's instance kept
    view = cluster.view("web")
    assert view["version"] == 2 and view["spec"]["config"]["command"] == ["sleep", "2"]
    reverted = [e for e in cluster.events("web") if "reverting to version 2" in e]
    assert reverted == [
        f"version 3 failed: instance {v3.instance_id} was not healthy within 30 s (it is "
        "restarting: exited with code 1); reverting to version 2"
    ]
    await cluster.report(node3, v3, "stopped", final=True)
    assert cluster.view("web")["rollout"] is None
    assert len(cluster.starts()) == 3  # going back started nothing
    # The events say what happened: v2's instance kept, v3's stopped, nothing replaced.
    updates = [e for e in cluster.events("web") if e.startswith("version") and ": " in e]
    assert "version 3: 1 instance(s) of other versions will be replaced" in updates
    assert updates[-1] == (
        "version 2: 1 instance(s) running it kept, 1 instance(s) of other versions will be stopped"
    )


async def test_roll_without_auto_revert_pauses_with_the_reason(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    update = {"min_healthy_seconds": 1, "healthy_deadline_seconds": 20, "auto_revert": False}
    await cluster.deployments.ask(CreateDeployment(spec("web", update=update)))
    await trio.testing.wait_all_tasks_blocked()
    node1, v1 = latest_start(cluster)
    await cluster.report(node1, v1, "running", pid=10)
    await change(cluster, "web", {"config": {"command": ["sleep", "5"]}})
    node2, v2 = latest_start(cluster)
    await trio.sleep(20.1)
    rollout = cluster.view("web")["rollout"]
    assert rollout["state"] == "paused" and "not healthy within 20 s" in rollout["reason"]
    assert stops(cluster) == []  # nothing moves while paused: both keep running
    await cluster.report(node2, v2, "running", pid=11)
    await trio.sleep(5)
    assert stops(cluster) == [] and cluster.view("web")["rollout"]["state"] == "paused"
    # A new change supersedes the paused roll.
    await change(cluster, "web", {"config": {"command": ["sleep", "6"]}})
    assert cluster.view("web")["rollout"]["state"] == "rolling"
    assert stops(cluster) == [v2.instance_id]  # the one healthy for the shortest time


async def test_roll_without_room_goes_one_down_one_up(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    # Both nodes full (2 x 4 of Analytic1): the surge instance finds no room.
    update = {"min_healthy_seconds": 1}
    await cluster.deployments.ask(CreateDeployment(spec("full", replicas=8, update=update)))
    await trio.testing.wait_all_tasks_blocked()
    first = cluster.starts()
    assert len(first) == 8
    for node, start in first:
        await cluster.report(node, start, "running", pid=1)
    await change(cluster, "full", {"config": {"command": ["sleep", "9"]}})
    assert len(cluster.starts()) == 8  # nothing placed beyond the capacity
    view = cluster.view("full")
    pending = [i for i in view["instances"] if i["state"] == "pending"]
    assert len(pending) == 1 and view["rollout"]["state"] == "rolling"
    [down] = stops(cluster)  # one old instance makes room ...
    node, start = next((n, s) for n, s in first if s.instance_id == down)
    await cluster.report(node, start, "stopped", final=True)
    assert len(cluster.starts()) == 9  # ... and the new one takes it
    new_node, new = cluster.starts()[-1]
    assert new_node == node and new.spec.config.command == ("sleep", "9")
    await cluster.report(new_node, new, "running", pid=2)
    await trio.sleep(1.1)
    assert len(stops(cluster)) == 2  # healthy: the next old one goes


async def test_roll_reverts_at_once_when_a_new_instance_ends_for_good(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    policy = {"type": "never"}
    await cluster.deployments.ask(CreateDeployment(spec("once", restart_policy=policy)))
    await trio.testing.wait_all_tasks_blocked()
    node1, v1 = latest_start(cluster)
    await cluster.report(node1, v1, "running", pid=10)
    await change(cluster, "once", {"config": {"command": ["sleep", "7"]}})
    node2, v2 = latest_start(cluster)
    await cluster.report(node2, v2, "exited", exit_code=2, final=True)
    view = cluster.view("once")  # long before the 120 s deadline
    # The one stop lets the node forget the ended instance; the old one runs on.
    assert view["version"] == 1 and stops(cluster) == [v2.instance_id]
    [reverted] = [e for e in cluster.events("once") if "reverting" in e]
    assert f"instance {v2.instance_id} exited (exit code 2)" in reverted


async def test_roll_one_down_one_up_replaces_the_replica_it_stopped(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    # No surge: each step stops one old instance, and the new one must take that
    # replica's place, not start a second copy of a replica whose old one still runs.
    update = {"max_surge": 0, "max_parallel": 100, "min_healthy_seconds": 0}
    await cluster.deployments.ask(CreateDeployment(spec("swap", replicas=3, update=update)))
    await trio.testing.wait_all_tasks_blocked()
    running = {s.instance_id: (n, s) for n, s in cluster.starts()}
    for node, start in running.values():
        await cluster.report(node, start, "running", pid=1)
    await change(cluster, "swap", {"config": {"command": ["sleep", "9"]}})
    for step in range(3):
        down = stops(cluster)[step]
        node, old = running.pop(down)
        await cluster.report(node, old, "stopped", final=True)
        new_node, new = latest_start(cluster)
        assert new.replica == old.replica, f"step {step}: stopped {old.replica}"
        assert new.spec.config.command == ("sleep", "9")
        await cluster.report(new_node, new, "running", pid=2)
    view = cluster.view("swap")
    assert view["rollout"] is None and view["version"] == 2
    live = sorted(i["replica"] for i in view["instances"] if i["state"] == "running")
    assert live == [0, 1, 2]


async def version_2_after_version_1_ended(c: Cluster) -> tuple[StartInstance, str, StartInstance]:
    """Deployment "idle" (min healthy 1 s, deadline 20 s) whose version 1 ran and ended
    with code 0, changed to version 2: (version 1's start, version 2's node and start)."""
    update = {"min_healthy_seconds": 1, "healthy_deadline_seconds": 20}
    config = {"command": ["sleep", "1"]}
    await c.deployments.ask(CreateDeployment(spec("idle", config=config, update=update)))
    await trio.testing.wait_all_tasks_blocked()
    node1, v1 = latest_start(c)
    await c.report(node1, v1, "running", pid=10)
    await c.report(node1, v1, "exited", exit_code=0, final=True)  # its work done
    await change(c, "idle", {"config": {"command": ["sleep", "2"]}})
    node2, v2 = latest_start(c)
    return v1, node2, v2


async def test_a_version_with_nothing_old_to_replace_must_still_prove_its_health(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """Nothing of another version runs (the old instances ended): the new ones start
    together, but the version is good only once they are healthy, and one that is not
    within the deadline fails it as a roll would, back to the last good version. Marked
    good at once, a broken version became the one a later failed roll reverted to."""
    v1, node2, v2 = await version_2_after_version_1_ended(cluster)
    assert v2.spec.config.command == ("sleep", "2")
    await cluster.report(node2, v2, "restarting", reason="exited with code 1")
    assert cluster.view("idle")["rollout"]["state"] == "rolling"  # not good yet
    await trio.sleep(20.1)
    view = cluster.view("idle")
    assert view["version"] == 1 and view["spec"]["config"]["command"] == ["sleep", "1"]
    [reverted] = [e for e in cluster.events("idle") if "reverting" in e]
    assert reverted == (
        f"version 2 failed: instance {v2.instance_id} was not healthy within 20 s (it is "
        "restarting: exited with code 1); reverting to version 1"
    )
    node3, v3 = latest_start(cluster)  # version 1's template again
    assert v3.spec.config.command == ("sleep", "1") and v3.instance_id != v2.instance_id
    await cluster.report(node3, v3, "running", pid=12)
    await trio.sleep(1.1)
    # Version 1's ended instance is forgotten on its node, then version 2's stops.
    assert stops(cluster) == [v1.instance_id, v2.instance_id]
    await cluster.report(node2, v2, "stopped", final=True)
    assert cluster.view("idle")["rollout"] is None

    # A version that does run: good once healthy for min_healthy_seconds, not before.
    await cluster.report(node3, v3, "exited", exit_code=0, final=True)
    await change(cluster, "idle", {"config": {"command": ["sleep", "4"]}})
    node4, v4 = latest_start(cluster)
    await cluster.report(node4, v4, "running", pid=13)
    assert cluster.view("idle")["rollout"] is not None
    await trio.sleep(1.1)
    view = cluster.view("idle")
    assert view["rollout"] is None and view["version"] == 3
    assert "version 3 rolled out: 1 healthy instance(s)" in cluster.events("idle")


async def test_a_version_whose_new_instance_failed_for_good_is_not_good(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """Nothing of another version runs and the new version's only instance fails for
    good (a spawn error, a bad source) while its replacement waits out the reschedule
    delay: no instance of it is live, and that is no proof of health. Marked good here,
    it became the version a later revert went back to; it must fail as a roll would."""
    _, node2, v2 = await version_2_after_version_1_ended(cluster)
    await cluster.report(node2, v2, "failed", reason="spawn error: no such file", final=True)
    view = cluster.view("idle")
    assert view["version"] == 1 and view["spec"]["config"]["command"] == ["sleep", "1"]
    [reverted] = [e for e in cluster.events("idle") if "reverting" in e]
    assert reverted == (
        f"version 2 failed: instance {v2.instance_id} failed (spawn error: no such file); "
        "reverting to version 1"
    )


async def test_a_spec_stored_before_the_deadline_rule_still_scales_rolls_and_reverts(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """Stored when ``healthy_deadline_seconds > min_healthy_seconds`` was not a rule:
    a scale, a roll, its auto-revert and a rollback keep the stored policy as it is;
    only a changed policy must follow the rule."""
    stored = spec("old", config={"command": ["sleep", "1"]}).to_dict()
    stored["update"] = {**stored["update"], "min_healthy_seconds": 300}  # deadline 120
    await cluster.deployments.ask(CreateDeployment(parse_stored_spec(stored)))
    await trio.testing.wait_all_tasks_blocked()
    node1, v1 = latest_start(cluster)
    await cluster.report(node1, v1, "running", pid=10)
    scaled = await cluster.deployments.ask(UpdateDeployment("old", {"replicas": 2}))
    assert not isinstance(scaled, Failed), scaled
    await trio.testing.wait_all_tasks_blocked()
    node2, r1 = latest_start(cluster)
    await cluster.report(node2, r1, "running", pid=11)
    # The roll can never be healthy in time (300 s > 120 s): it reverts to version 1.
    await change(cluster, "old", {"config": {"command": ["sleep", "2"]}})
    assert cluster.view("old")["version"] == 2
    await trio.sleep(120.1)
    view = cluster.view("old")
    assert view["version"] == 1 and view["spec"]["config"]["command"] == ["sleep", "1"]
    assert view["spec"]["update"]["min_healthy_seconds"] == 300
    assert [e for e in cluster.events("old") if "reverting to version 1" in e]
    back = await cluster.deployments.ask(RollbackDeployment("old", 2))
    assert not isinstance(back, Failed), back
    assert cluster.view("old")["version"] == 2
    # A changed update policy is checked against the rule.
    refused = await cluster.deployments.ask(UpdateDeployment("old", {"update": {"canary": 1}}))
    assert isinstance(refused, Failed) and "healthy_deadline_seconds" in str(refused.error)


async def version_1_refused_now(
    cluster: Cluster, name: str, **update: Any
) -> tuple[str, StartInstance]:
    """Version 1 of ``name`` runs a template stored when a control character in a
    variable's name was no rule's business, and version 2 (valid today) rolls: its
    instance started (and its node)."""
    stored = spec(name, config={"command": ["sleep", "1"]}).to_dict()
    stored["config"]["env"] = {"A\x01": "v"}
    stored["update"] = {**stored["update"], "min_healthy_seconds": 1, **update}
    await cluster.deployments.ask(CreateDeployment(parse_stored_spec(stored)))
    await trio.testing.wait_all_tasks_blocked()
    node1, v1 = latest_start(cluster)
    await cluster.report(node1, v1, "running", pid=10)
    # The patch drops the old variable: version 2 is valid today.
    await change(cluster, name, {"config": {"command": ["sleep", "2"], "env": {"A\x01": None}}})
    return latest_start(cluster)


async def test_a_revert_to_a_template_todays_rules_refuse_pauses_the_roll_with_the_reason(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """Version 1 was stored when a control character in a variable's name was no rule's
    business; version 2 never becomes healthy. The automatic revert cannot bring back a
    template that is refused now: the roll pauses, saying both why version 2 failed and
    why version 1 is refused, and nothing is stopped or started. A rollback asked for by
    hand to that version is refused the same way (a 422, not a half-made change)."""
    node2, v2 = await version_1_refused_now(cluster, "old", healthy_deadline_seconds=20)
    assert v2.spec.config.command == ("sleep", "2") and cluster.view("old")["version"] == 2
    await cluster.report(node2, v2, "restarting", reason="exited with code 1")
    await trio.sleep(20.1)
    view = cluster.view("old")
    rollout = view["rollout"]
    assert view["version"] == 2 and view["spec"]["config"]["command"] == ["sleep", "2"]
    assert rollout["state"] == "paused", rollout
    assert rollout["reason"].startswith(
        f"version 2 failed: instance {v2.instance_id} was not healthy within 20 s"
    )
    assert "; version 1 is refused now (config.env['A\\x01']: " in rollout["reason"]
    assert "control characters" in rollout["reason"]
    assert [e for e in cluster.events("old") if e.startswith("roll paused: version 2 failed")]
    assert not [e for e in cluster.events("old") if "reverting" in e]
    assert stops(cluster) == [] and len(cluster.starts()) == 2  # both kept as they are
    refused = await cluster.deployments.ask(RollbackDeployment("old", 1))
    assert isinstance(refused, Failed) and "control characters" in str(refused.error)
    assert (
        cluster.view("old")["version"] == 2 and cluster.view("old")["rollout"]["state"] == "paused"
    )
