"""A rolling restart under a virtual clock: the Conductor's actors run in the test's loop
and nodes are recording sessions (as in test_roll_timers), so the health timers pass
instantly and every step of the roll is seen."""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from symphony.conductor.deployments import CreateDeployment
from symphony.conductor.deployments.manager import Failed
from symphony.conductor.deployments.messages import (
    RestartDeployment,
    RestartDue,
    RollbackDeployment,
)
from symphony.conductor.store import KEEP_VERSIONS, RollConflict
from symphony.wire import StartInstance

from ..deployments.test_reschedule import Cluster, cluster, spec
from .test_roll_timers import change, latest_start, stops

__all__ = ["cluster"]  # the fixture, used by name


def running(c: Cluster, name: str) -> int:
    return sum(1 for i in c.view(name)["instances"] if i["state"] == "running")


async def create_running(c: Cluster, name: str, **extra: Any) -> dict[str, StartInstance]:
    """Create ``name`` and report each of its instances running: the starts by id."""
    await c.deployments.ask(CreateDeployment(spec(name, **extra)))
    await trio.testing.wait_all_tasks_blocked()
    for node, start in c.starts():
        await c.report(node, start, "running", pid=1)
    return {s.instance_id: s for _, s in c.starts()}


async def test_restart_rolls_one_at_a_time_keeping_replicas_minus_max_parallel_running(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    update = {"max_parallel": 1, "max_surge": 0, "min_healthy_seconds": 5}
    command = {"command": ["sleep", "1000"]}
    old = await create_running(cluster, "web", replicas=3, update=update, config=command)
    assert running(cluster, "web") == 3
    first = set(old)

    restarted = await cluster.deployments.ask(RestartDeployment("web"))
    assert not isinstance(restarted, Failed), restarted
    await trio.testing.wait_all_tasks_blocked()
    assert restarted.version == 2
    view = cluster.view("web")
    assert view["rollout"]["state"] == "promoted"  # a restart waits for no canary
    assert view["rollout"]["reason"] == "rolling restart of version 1"

    # Play the nodes: confirm each stop, run each new instance; the roll goes on only
    # as the new ones are healthy, so at most max_parallel (1) replica is down.
    reported: set[str] = set(old)
    lowest = 3
    for _ in range(20):
        for node, start in cluster.starts():
            if start.instance_id not in reported:
                reported.add(start.instance_id)
                assert start.spec.config.command == ("sleep", "1000")  # the same template
                await cluster.report(node, start, "running", pid=2)
        lowest = min(lowest, running(cluster, "web"))
        for down in stops(cluster):
            inst = old.pop(down, None)
            if inst is not None:
                lowest = min(lowest, running(cluster, "web"))
                node = next(n for n, s in cluster.starts() if s.instance_id == down)
                await cluster.report(node, inst, "stopped", final=True)
        lowest = min(lowest, running(cluster, "web"))
        if cluster.view("web")["rollout"] is None:
            break
        await trio.sleep(2.6)
    view = cluster.view("web")
    assert view["rollout"] is None and view["version"] == 2
    assert lowest == 2  # replicas - max_parallel, never fewer
    live = [i for i in view["instances"] if i["finished_at"] is None]
    assert len(live) == 3 and all(i["state"] == "running" for i in live)
    assert not {i["id"] for i in live} & first
    assert old == {} and len(cluster.starts()) == 6  # each replica is a new instance
    events = cluster.events("web")
    assert any(e.startswith("rolling restart requested") for e in events), events
    assert "rolling restart done: 3 healthy instance(s) of version 2" in events
    # Version 1 (the same template) is forgotten: restarts never push out other templates.
    record = cluster.store.get_deployment("web")
    assert record is not None
    assert [v.version for v in cluster.store.list_versions(record.id)] == [2]


async def test_restart_of_one_replica_starts_the_new_one_before_stopping_the_old(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    # As an update with the default policy (max_surge 1): the new one first.
    old = await create_running(cluster, "one", update={"min_healthy_seconds": 5})
    [old_id] = old
    await cluster.deployments.ask(RestartDeployment("one"))
    await trio.testing.wait_all_tasks_blocked()
    node, new = latest_start(cluster)
    assert new.instance_id != old_id and stops(cluster) == []
    await cluster.report(node, new, "running", pid=3)
    await trio.sleep(4.9)
    assert stops(cluster) == []  # not healthy long enough: the old one serves
    await trio.sleep(0.2)
    assert stops(cluster) == [old_id]


async def test_restart_refused_while_rolling_stopped_or_scheduled(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    await create_running(cluster, "web", update={"min_healthy_seconds": 5})
    await change(cluster, "web", {"config": {"command": ["sleep", "2"]}})
    refused = await cluster.deployments.ask(RestartDeployment("web"))
    assert isinstance(refused, Failed) and isinstance(refused.error, RollConflict)
    assert "a rollout of version 2 is under way (rolling)" in str(refused.error)

    await change(cluster, "web", {"desired_state": "stopped"})
    refused = await cluster.deployments.ask(RestartDeployment("web"))
    assert isinstance(refused, Failed) and "is stopped" in str(refused.error)

    cron = {"schedule": {"cron": "0 4 * * *"}, "restart_policy": {"type": "never"}}
    await cluster.deployments.ask(CreateDeployment(spec("batch", **cron)))
    refused = await cluster.deployments.ask(RestartDeployment("batch"))
    assert isinstance(refused, Failed) and "scheduled" in str(refused.error)
    assert cluster.view("batch")["version"] == 1


async def test_restart_schedule_rolls_unless_it_says_all_at_once(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    update = {"min_healthy_seconds": 5}
    nightly = {"cron": "0 4 * * *"}
    old = await create_running(cluster, "roll", replicas=2, update=update, restart_schedule=nightly)
    record = cluster.store.get_deployment("roll")
    assert record is not None
    await cluster.deployments.tell(RestartDue(record.id, 0.0, 0.0))
    await trio.testing.wait_all_tasks_blocked()
    view = cluster.view("roll")
    assert view["version"] == 2 and view["rollout"]["state"] == "promoted"
    assert stops(cluster) == [] and len(cluster.starts()) == 3  # one new, beside the old
    assert any(e.startswith("scheduled rolling restart") for e in cluster.events("roll"))
    # The next time comes while that roll is under way: it passes, with an event.
    await cluster.deployments.tell(RestartDue(record.id, 60.0, 60.0))
    await trio.testing.wait_all_tasks_blocked()
    assert cluster.view("roll")["version"] == 2
    [skipped] = [e for e in cluster.events("roll") if "skipped" in e]
    assert "a rollout of version 2 is under way" in skipped
    cluster.commands.clear()

    at_once = {**nightly, "strategy": "all-at-once"}
    old = await create_running(cluster, "bang", replicas=2, restart_schedule=at_once)
    record = cluster.store.get_deployment("bang")
    assert record is not None
    await cluster.deployments.tell(RestartDue(record.id, 0.0, 0.0))
    await trio.testing.wait_all_tasks_blocked()
    assert sorted(stops(cluster)) == sorted(old)  # every one at once, as before
    assert cluster.view("bang")["version"] == 1


async def test_restart_of_a_job_that_finished_runs_it_again(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    # Nothing old to replace: the new instance starts at once (as an update's would).
    once = {"type": "never"}
    [first] = (await create_running(cluster, "job", restart_policy=once)).values()
    node_id = cluster.starts()[0][0]
    await cluster.report(node_id, first, "exited", exit_code=0, final=True)
    assert cluster.view("job")["state"] == "exited"
    await cluster.deployments.ask(RestartDeployment("job"))
    await trio.testing.wait_all_tasks_blocked()
    node_id, again = latest_start(cluster)
    assert again.instance_id != first.instance_id
    await cluster.report(node_id, again, "running", pid=4)
    await cluster.report(node_id, again, "exited", exit_code=0, final=True)
    view = cluster.view("job")
    assert view["version"] == 2 and view["rollout"] is None
    # Done as any restart: the version restarted (the same template) is forgotten.
    record = cluster.store.get_deployment("job")
    assert record is not None
    assert [v.version for v in cluster.store.list_versions(record.id)] == [2]


async def test_restart_of_a_failed_deployment_starts_it_afresh(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    once = {"attempts": 0, "delay_seconds": 5, "max_delay_seconds": 60}
    await cluster.deployments.ask(CreateDeployment(spec("flaky", reschedule=once)))
    await trio.testing.wait_all_tasks_blocked()
    node, first = latest_start(cluster)
    await cluster.report(node, first, "failed", reason="restart budget spent", final=True)
    assert cluster.view("flaky")["state"] == "failed"
    restarted = await cluster.deployments.ask(RestartDeployment("flaky"))
    assert not isinstance(restarted, Failed), restarted
    await trio.testing.wait_all_tasks_blocked()
    view = cluster.view("flaky")
    assert view["failure"] is None and len(cluster.starts()) == 2


async def back_on_version_1(
    c: Cluster, node: str, new: StartInstance, old: dict[str, StartInstance]
) -> None:
    """Once the restart's ``new`` instance stopped: version 1 again, no roll, and only
    the ``old`` instances live (they ran on throughout)."""
    await c.report(node, new, "stopped", final=True)
    view = c.view("web")
    assert view["version"] == 1 and view["rollout"] is None
    live = {i["id"] for i in view["instances"] if i["finished_at"] is None}
    assert live == set(old)


async def test_a_restart_whose_new_instance_is_never_healthy_reverts_keeping_the_old(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    update = {"min_healthy_seconds": 5, "healthy_deadline_seconds": 20}
    old = await create_running(cluster, "web", replicas=2, update=update)
    await cluster.deployments.ask(RestartDeployment("web"))
    await trio.testing.wait_all_tasks_blocked()
    node, new = latest_start(cluster)
    await cluster.report(node, new, "restarting", reason="exited with code 1")
    await trio.sleep(20.1)
    assert stops(cluster) == [new.instance_id]  # the old ones run on
    await back_on_version_1(cluster, node, new, old)
    [reverted] = [e for e in cluster.events("web") if "reverting" in e]
    assert reverted.startswith("version 2 failed: instance") and "version 1" in reverted


async def test_a_rollback_during_a_restart_goes_back_to_the_restarted_version(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    # The restart's version has the template of the one restarted: a rollback to that
    # one changes no template, yet it must end the restart's roll and keep the version.
    old = await create_running(cluster, "web", replicas=2, update={"min_healthy_seconds": 5})
    await cluster.deployments.ask(RestartDeployment("web"))
    await trio.testing.wait_all_tasks_blocked()
    node, new = latest_start(cluster)
    await cluster.report(node, new, "running", pid=5)
    back = await cluster.deployments.ask(RollbackDeployment("web", 1))
    assert not isinstance(back, Failed), back
    await trio.testing.wait_all_tasks_blocked()
    assert back.version == 1
    await trio.sleep(5.1)  # the old ones prove their health as a roll's new ones do
    assert stops(cluster) == [new.instance_id]  # the old ones run on
    await back_on_version_1(cluster, node, new, old)
    events = cluster.events("web")
    [rollback] = [e for e in events if e.startswith("rollback to version 1")]
    assert "ends the rolling restart of version 1" in rollback
    assert not any(e.startswith("rolling restart done") for e in events), events
    record = cluster.store.get_deployment("web")
    assert record is not None
    kept = {v.version: v.status for v in cluster.store.list_versions(record.id)}
    assert kept[1] == "good"


async def test_a_scheduled_rolling_restart_says_its_times_in_the_schedules_zone(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    nightly = {"cron": "0 4 * * *", "timezone": "Europe/Berlin"}
    await create_running(
        cluster, "web", update={"min_healthy_seconds": 5}, restart_schedule=nightly
    )
    record = cluster.store.get_deployment("web")
    assert record is not None
    at = 1_780_000_000.0  # 2026-05-28 20:26 UTC, 22:26 in Berlin (summer time)
    await cluster.deployments.tell(RestartDue(record.id, at, at))
    await trio.testing.wait_all_tasks_blocked()
    await cluster.deployments.tell(RestartDue(record.id, at + 60, at + 60))  # a roll is on
    await trio.testing.wait_all_tasks_blocked()
    events = cluster.events("web")
    assert "scheduled rolling restart for 2026-05-28 22:26 Europe/Berlin" in "\n".join(events)
    [skipped] = [e for e in events if "skipped" in e]
    assert skipped.startswith("scheduled restart for 2026-05-28 22:27 Europe/Berlin skipped")


async def test_an_all_at_once_scheduled_restart_skips_a_roll_under_way(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    # Stopping every instance mid-roll would undo the roll's care: the time passes.
    at_once = {"cron": "0 4 * * *", "strategy": "all-at-once"}
    update = {"min_healthy_seconds": 5}
    old = await create_running(cluster, "bang", replicas=2, update=update, restart_schedule=at_once)
    await change(cluster, "bang", {"config": {"command": ["sleep", "2"]}})
    assert cluster.view("bang")["rollout"]["state"] == "rolling"
    record = cluster.store.get_deployment("bang")
    assert record is not None
    await cluster.deployments.tell(RestartDue(record.id, 0.0, 0.0))
    await trio.testing.wait_all_tasks_blocked()
    assert not set(stops(cluster)) & set(old)  # the old ones run on
    [skipped] = [
        e for e in cluster.store.list_events(deployment_id=record.id) if e.kind == "restart-skipped"
    ]
    assert skipped.message.startswith("scheduled restart for 1970-01-01 00:00 UTC skipped")
    assert "a rollout of version 2 is under way (rolling)" in skipped.message


async def settle(c: Cluster, name: str) -> None:
    """Play the nodes until the roll of ``name`` is done: every new instance runs, every
    stopped one is confirmed."""
    reported: set[str] = set()
    stopped: set[str] = set()
    for _ in range(40):
        starts = dict((s.instance_id, (n, s)) for n, s in c.starts())
        for node, start in starts.values():
            if start.instance_id not in reported:
                reported.add(start.instance_id)
                await c.report(node, start, "running", pid=1)
        for down in stops(c):
            if down not in stopped and down in starts:
                stopped.add(down)
                node, start = starts[down]
                await c.report(node, start, "stopped", final=True)
        if c.view(name)["rollout"] is None:
            return
        await trio.sleep(1.1)
    raise AssertionError(f"the roll of {name} never ended: {c.view(name)['rollout']}")


async def test_a_second_rollback_after_one_that_ended_a_restart_reaches_the_template_before(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    # v1 = T1, v2 = T2, the restart makes v3 (a copy of T2); a rollback ends it at v2, and
    # the restart's copy goes with it: a second rollback reaches T1, not T2 again.
    update = {"min_healthy_seconds": 1}
    await create_running(cluster, "web", update=update, config={"command": ["sleep", "1"]})
    await change(cluster, "web", {"config": {"command": ["sleep", "2"]}})
    await settle(cluster, "web")
    assert cluster.view("web")["version"] == 2
    restarted = await cluster.deployments.ask(RestartDeployment("web"))
    assert not isinstance(restarted, Failed) and restarted.version == 3, restarted
    await trio.testing.wait_all_tasks_blocked()

    back = await cluster.deployments.ask(RollbackDeployment("web", None))
    assert not isinstance(back, Failed) and back.version == 2, back
    record = cluster.store.get_deployment("web")
    assert record is not None
    assert sorted(v.version for v in cluster.store.list_versions(record.id)) == [1, 2]
    await settle(cluster, "web")

    again = await cluster.deployments.ask(RollbackDeployment("web", None))
    assert not isinstance(again, Failed), again
    assert again.version == 1 and list(again.spec.config.command) == ["sleep", "1"]


async def ten_templates(c: Cluster, name: str) -> str:
    """``name`` with KEEP_VERSIONS versions of distinct templates, the last current; its id."""
    await create_running(c, name, update={"min_healthy_seconds": 1})
    for n in range(2, KEEP_VERSIONS + 1):
        await change(c, name, {"config": {"command": ["sleep", str(n)]}})
        await settle(c, name)
    record = c.store.get_deployment(name)
    assert record is not None and record.version == KEEP_VERSIONS
    assert len(c.store.list_versions(record.id)) == KEEP_VERSIONS
    return record.id


async def test_a_restart_with_ten_versions_kept_pushes_no_template_out(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    deployment = await ten_templates(cluster, "web")
    await cluster.deployments.ask(RestartDeployment("web"))
    await trio.testing.wait_all_tasks_blocked()
    during = {v.version for v in cluster.store.list_versions(deployment)}
    assert during == set(range(1, KEEP_VERSIONS + 2))  # ten and the one in flight
    await settle(cluster, "web")
    kept = {v.version for v in cluster.store.list_versions(deployment)}
    assert kept == set(range(1, KEEP_VERSIONS)) | {KEEP_VERSIONS + 1}  # the restarted one went


async def test_a_failed_restart_with_ten_versions_kept_pushes_no_template_out(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    deployment = await ten_templates(cluster, "web")
    await cluster.deployments.ask(RestartDeployment("web"))
    await trio.testing.wait_all_tasks_blocked()
    node, new = latest_start(cluster)
    await cluster.report(node, new, "failed", reason="exited with code 1", final=True)
    await settle(cluster, "web")
    view = cluster.view("web")
    assert view["version"] == KEEP_VERSIONS
    kept = {v.version for v in cluster.store.list_versions(deployment)}
    assert kept == set(range(1, KEEP_VERSIONS + 1))  # the failed copy went, not version 1


async def test_a_failed_restart_copy_never_outlives_the_good_version_of_its_template(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    # v3 (T3) good; its restart v4 (T3) fails and pauses (no auto_revert); v5 rolls out:
    # of the two T3 copies the good one stays, so a rollback reaches T3, not T2.
    update = {"min_healthy_seconds": 1, "auto_revert": False}
    await create_running(cluster, "web", update=update, config={"command": ["sleep", "1"]})
    for n in (2, 3):
        await change(cluster, "web", {"config": {"command": ["sleep", str(n)]}})
        await settle(cluster, "web")
    restarted = await cluster.deployments.ask(RestartDeployment("web"))
    assert not isinstance(restarted, Failed) and restarted.version == 4, restarted
    await trio.testing.wait_all_tasks_blocked()
    node, new = latest_start(cluster)
    await cluster.report(node, new, "failed", reason="exited with code 1", final=True)
    assert cluster.view("web")["rollout"]["state"] == "paused"
    await change(cluster, "web", {"config": {"command": ["sleep", "5"]}})
    await settle(cluster, "web")
    record = cluster.store.get_deployment("web")
    assert record is not None and record.version == 5
    kept = {v.version: v.status for v in cluster.store.list_versions(record.id)}
    assert kept.get(3) == "good" and 4 not in kept, kept
    back = await cluster.deployments.ask(RollbackDeployment("web", None))
    assert not isinstance(back, Failed), back
    assert back.version == 3 and list(back.spec.config.command) == ["sleep", "3"]
