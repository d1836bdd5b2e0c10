"""One deployment's stuck supervisor stalls no other deployment, and loses nothing.

Real actors on a virtual clock (see ``test_reschedule.py``). The stuck supervisor is
played by :class:`~.test_undrain_bounded.Pause`, as in the undrain tests: it sleeps on
one, its mailbox full behind it. Meanwhile the manager must go on answering the API
for the other deployments, and what it owes the stuck one (a stored change, a node's
report, a drain) must still reach it once it wakes up, in an order that loses nothing
(a run fired under a change comes after it), and a restarted supervisor must not go
back to a change older than what it read from the store.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, replace
from typing import Any

import pytest
import trio
import trio.testing

from symphony.actors import Actor, ActorRef, ActorStopped, MailboxFull, spawn
from symphony.conductor.deployments import (
    CreateDeployment,
    DeleteDeployment,
    Deployments,
    Failed,
    UpdateDeployment,
)
from symphony.conductor.deployments.backlog import MAX_WAITING, Backlog
from symphony.conductor.deployments.messages import (
    FireRun,
    NodeReport,
    PromoteDeployment,
    SpecChanged,
)
from symphony.conductor.nodes.model import SetDraining
from symphony.wire import StartInstance, StopInstance

from .test_reschedule import Cluster, cluster, spec
from .test_undrain_bounded import Pause, _supervisor, pausable

__all__ = ["cluster", "pausable"]


async def _stuck(cluster: Cluster, name: str, seconds: float) -> None:
    """``name``'s supervisor sleeps for ``seconds``, its mailbox full behind it."""
    ref = _supervisor(name)
    await ref.tell(Pause(seconds))
    await trio.testing.wait_all_tasks_blocked()
    fill(ref)


def fill(ref: ActorRef) -> None:
    """Fill the mailbox of ``ref`` (asleep on a :class:`Pause`): what it is told next
    waits in the manager's backlog."""
    with pytest.raises(MailboxFull):
        while True:
            ref.tell_nowait(Pause(0))


async def test_a_stuck_supervisor_stalls_no_other_deployment(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    await cluster.deployments.ask(CreateDeployment(spec("stuck")))
    await cluster.deployments.ask(CreateDeployment(spec("idle", desired_state="stopped")))
    await trio.testing.wait_all_tasks_blocked()
    [(node, start)] = cluster.starts()
    await _stuck(cluster, "stuck", 600)
    began = trio.current_time()
    # What the manager owes the stuck one: a change, a node's report, a drain.
    changed = await cluster.deployments.ask(UpdateDeployment("stuck", {"replicas": 2}))
    assert changed.spec.replicas == 2
    refused = await cluster.deployments.ask(PromoteDeployment("stuck"))  # not overtaking it
    assert isinstance(refused, Failed) and "busy" in str(refused.error), refused
    await cluster.report(node, start, "running", pid=10)
    await cluster.registry.ask(SetDraining(node, True))
    # Others are answered at once meanwhile.
    other = spec("other", desired_state="stopped")
    await cluster.deployments.ask(CreateDeployment(other), timeout=math.inf)
    await cluster.deployments.ask(DeleteDeployment("idle"), timeout=math.inf)
    assert trio.current_time() - began < 1, "the manager waited on a stuck supervisor"
    assert cluster.store.get_deployment("idle") is None
    # Once it wakes up, the stuck one hears all of it, in order.
    await trio.sleep(700)
    await trio.testing.wait_all_tasks_blocked()
    states = sorted(i["state"] for i in cluster.view("stuck")["instances"])
    assert "running" in states, states  # the report was applied
    # The change (a second replica) and the drain (a replacement for the first one,
    # elsewhere): the Scheduler keeps new instances off a draining node whoever asks,
    # so only the replacement shows that the supervisor itself heard of the drain.
    later = [(n, s) for n, s in cluster.starts()[1:] if s.deployment_id == start.deployment_id]
    assert sorted(s.replica for _, s in later) == [0, 1], later
    assert all(n != node for n, _ in later), later
    for n, s in later:
        await cluster.report(n, s, "running", pid=11 + s.replica)
    # Its replacement running, the instance on the drained node is stopped.
    stops = [c.instance_id for _, c in cluster.commands if isinstance(c, StopInstance)]
    assert stops == [start.instance_id], stops


@pytest.fixture
def managers(monkeypatch: pytest.MonkeyPatch) -> list[Deployments]:
    """The Deployments managers started from now on (ask for it before ``cluster``)."""
    started: list[Deployments] = []
    on_start = Deployments.on_start

    async def _on_start(self: Deployments) -> None:
        started.append(self)
        await on_start(self)

    monkeypatch.setattr(Deployments, "on_start", _on_start)
    return started


async def test_what_waits_for_a_stuck_supervisor_stays_bounded_and_the_last_change_wins(
    managers: list[Deployments], cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    [manager] = managers
    await cluster.deployments.ask(CreateDeployment(spec("stuck")))
    await trio.testing.wait_all_tasks_blocked()
    await _stuck(cluster, "stuck", 600)
    began = trio.current_time()
    for n in range(200):  # each one stored and answered; only the latest one waits
        changed = await cluster.deployments.ask(UpdateDeployment("stuck", {"replicas": n % 3}))
        assert changed.spec.replicas == n % 3
    assert trio.current_time() - began < 1
    assert manager.backlog.waiting(_supervisor("stuck")) == 1
    await trio.sleep(700)
    await trio.testing.wait_all_tasks_blocked()
    assert manager.backlog.waiting(_supervisor("stuck")) == 0
    live = [i for i in cluster.view("stuck")["instances"] if i["finished_at"] is None]
    assert sorted(i["replica"] for i in live) == [0], live  # 199 % 3 replicas: the last


async def test_a_run_fired_under_a_waiting_change_reaches_the_supervisor_after_it(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """A newer change standing in for the one waiting takes its place in the queue: a
    run fired under the first change still comes after it, and is not lost."""
    scheduled = spec("nightly", desired_state="stopped", schedule={"cron": "0 3 * * *"})
    record = await cluster.deployments.ask(CreateDeployment(scheduled))
    await trio.testing.wait_all_tasks_blocked()
    await _stuck(cluster, "nightly", 600)
    # The first change is in flight (its delivery waits for room), the second one waits.
    await cluster.deployments.ask(UpdateDeployment("nightly", {"replicas": 3}))
    await cluster.deployments.ask(UpdateDeployment("nightly", {"desired_state": "running"}))
    at = trio.current_time()
    await cluster.deployments.tell(FireRun(record.id, at, at))  # as the Timetable does
    await cluster.deployments.ask(UpdateDeployment("nightly", {"replicas": 2}))
    await trio.sleep(700)
    await trio.testing.wait_all_tasks_blocked()
    [run] = cluster.store.list_runs(record.id)
    assert len(run.members) == 2, run  # under the newer spec: it stood in for both
    started = [s for _, s in cluster.starts() if s.deployment_id == record.id]
    assert sorted(s.replica for s in started) == [0, 1], started


@dataclass
class Fragile:
    """A message whose ``dropped_unread`` hook raises, as a buggy hook would."""

    told: list[int]

    def dropped_unread(self) -> None:
        self.told.append(1)
        raise RuntimeError("a broken hook")


class Held(Actor):
    """Handles a message by waiting for ``release``."""

    def __init__(self, release: trio.Event) -> None:
        super().__init__()
        self.release = release

    async def receive(self, message: Any) -> None:
        await self.release.wait()


async def test_a_hook_that_raises_spoils_no_cleanup_of_what_waited(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Each hook is told, the queue is gone and whoever waits for it is woken."""
    backlog, told, release = Backlog(), [], trio.Event()
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, Held(release), mailbox_size=1)
        await ref.tell("hold")
        await trio.testing.wait_all_tasks_blocked()
        ref.tell_nowait("full")
        await backlog.send(nursery, ref, Fragile(told))  # in flight: its tell waits
        await backlog.send(nursery, ref, Fragile(told))  # waits here
        await trio.testing.wait_all_tasks_blocked()
        await ref.stop()  # for good: spawned, nothing restarts it
        release.set()
        with trio.fail_after(1), pytest.raises(ActorStopped):
            await backlog.caught_up(ref)
        assert told == [1, 1] and not backlog.behind(ref)
    failed = [r for r in caplog.records if r.exc_info and "broken hook" in str(r.exc_info[1])]
    assert len(failed) == 2, caplog.text  # each one logged


async def test_a_promote_of_a_stuck_supervisor_holds_up_no_other_request(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """Nothing waits for it in the manager, but its mailbox is full: the promote is
    asked (bounded) in the background while the manager answers the others."""
    await cluster.deployments.ask(CreateDeployment(spec("stuck")))
    await trio.testing.wait_all_tasks_blocked()
    await _stuck(cluster, "stuck", 600)
    answers: list[Any] = []
    began = trio.current_time()
    async with trio.open_nursery() as nursery:

        async def promote() -> None:
            answers.append(await cluster.deployments.ask(PromoteDeployment("stuck"), timeout=60))

        nursery.start_soon(promote)
        await trio.testing.wait_all_tasks_blocked()
        other = spec("other", desired_state="stopped")
        await cluster.deployments.ask(CreateDeployment(other), timeout=math.inf)
        assert trio.current_time() - began < 1, "the manager waited on a stuck supervisor"
    [refused] = answers  # past its bound, as before
    assert isinstance(refused, Failed) and "cannot be promoted now" in str(refused.error)
    assert 10 <= trio.current_time() - began < 11


@dataclass(frozen=True)
class Crash:
    """A message no supervisor handles: it crashes on it, and is restarted from the store."""


async def test_a_restarted_supervisor_ignores_changes_older_than_the_store(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """Its mailbox outlives the crash: the changes in it are no newer than what the
    restarted supervisor read, and must not take it back to an older spec."""
    await cluster.deployments.ask(CreateDeployment(spec("web", desired_state="stopped")))
    await trio.testing.wait_all_tasks_blocked()
    web = _supervisor("web")
    await web.tell(Pause(10))
    await web.tell(Crash())
    for patch in ({"desired_state": "running"}, {"replicas": 2}):  # told behind the crash
        await cluster.deployments.ask(UpdateDeployment("web", patch))
    await trio.sleep(60)
    await trio.testing.wait_all_tasks_blocked()
    assert _supervisor("web") is not web  # restarted, and read both changes
    instances = cluster.view("web")["instances"]
    assert sorted(i["replica"] for i in instances) == [0, 1], instances
    assert not [e for e in cluster.events("web") if "scaled down" in e], cluster.events("web")


async def test_a_restarted_supervisor_still_starts_afresh_as_an_older_change_asked(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """The change that asked it is ignored (older than the store), but the restart
    itself started the deployment afresh from the store."""
    no_attempts = {"attempts": 0, "delay_seconds": 5, "max_delay_seconds": 60}
    await cluster.deployments.ask(CreateDeployment(spec("flaky", reschedule=no_attempts)))
    await trio.testing.wait_all_tasks_blocked()
    [(node, first)] = cluster.starts()
    await cluster.report(node, first, "failed", reason="crashed", final=True)
    assert cluster.view("flaky")["state"] == "failed"
    flaky = _supervisor("flaky")
    await flaky.tell(Pause(10))
    await flaky.tell(Crash())
    for _ in range(2):  # "symphony start" (afresh), then again (nothing failed by then)
        await cluster.deployments.ask(UpdateDeployment("flaky", {"desired_state": "running"}))
    await trio.sleep(60)
    await trio.testing.wait_all_tasks_blocked()
    assert _supervisor("flaky") is not flaky
    assert len(cluster.starts()) == 2, cluster.events("flaky")  # started afresh
    assert cluster.view("flaky")["state"] != "failed"  # the start cleared the failure


async def _failed_run_then_busy(cluster: Cluster) -> tuple[str, float, str, StartInstance]:
    """A nightly deployment of two replicas whose run failed (replica 0 gave up, with no
    reschedule; replica 1 runs on), then its supervisor busy for 10 s. Returns its id,
    when the run fired, and replica 1's node and instance."""
    no_attempts = {"attempts": 0, "delay_seconds": 5, "max_delay_seconds": 60}
    nightly = spec("nightly", replicas=2, schedule={"cron": "0 3 * * *"}, reschedule=no_attempts)
    record = await cluster.deployments.ask(CreateDeployment(nightly))
    at = trio.current_time()
    await cluster.deployments.tell(FireRun(record.id, at, at))
    await trio.testing.wait_all_tasks_blocked()
    [(node, failing), (other, running)] = cluster.starts()
    await cluster.report(other, running, "running", pid=10)
    await cluster.report(node, failing, "failed", reason="crashed", final=True)
    assert cluster.view("nightly")["state"] == "failed"
    await _supervisor("nightly").tell(Pause(10))
    return record.id, at, other, running


async def test_a_run_fired_before_a_start_keeps_the_start_for_the_supervisor(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """A run fired on a failed deployment clears the failure, but must not take the
    newer record the store holds by then: the "start" told behind the run would be
    ignored as no newer, and its instances still running not carried over to it."""
    record_id, at, _, running = await _failed_run_then_busy(cluster)
    await cluster.deployments.tell(FireRun(record_id, at + 1, at + 1))  # skipped: forbid
    await cluster.deployments.ask(UpdateDeployment("nightly", {"desired_state": "running"}))
    await trio.sleep(60)
    await trio.testing.wait_all_tasks_blocked()
    stops = [c.instance_id for _, c in cluster.commands if isinstance(c, StopInstance)]
    assert running.instance_id not in stops, "\n".join(cluster.events("nightly"))
    view = cluster.view("nightly")
    [kept] = [i for i in view["instances"] if i["id"] == running.instance_id]
    assert kept["generation"] == view["generation"], kept


async def test_a_replica_given_up_before_a_change_keeps_the_change_for_the_supervisor(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """Failing the deployment writes the failure only: the record read back would
    carry the change told behind the report, which would then be ignored."""
    no_attempts = {"attempts": 0, "delay_seconds": 5, "max_delay_seconds": 60}
    await cluster.deployments.ask(CreateDeployment(spec("web", replicas=2, reschedule=no_attempts)))
    await trio.testing.wait_all_tasks_blocked()
    [(node, failing), (other, running)] = sorted(cluster.starts(), key=lambda s: s[1].replica)
    await cluster.report(other, running, "running", pid=10)
    await _supervisor("web").tell(Pause(10))
    await cluster.report(node, failing, "failed", reason="crashed", final=True)
    await cluster.deployments.ask(UpdateDeployment("web", {"replicas": 3}))
    await trio.sleep(60)
    await trio.testing.wait_all_tasks_blocked()
    stops = [c.instance_id for _, c in cluster.commands if isinstance(c, StopInstance)]
    assert running.instance_id not in stops, "\n".join(cluster.events("web"))
    view = cluster.view("web")
    assert view["state"] == "failed", view  # replica 0 gave up; the change is no start
    [kept] = [i for i in view["instances"] if i["id"] == running.instance_id]
    assert kept["generation"] == view["generation"], kept


async def test_a_change_told_after_a_run_cleared_the_failure_does_not_bring_it_back(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """The failure is the supervisor's to write: the told record's is what the manager
    read when it stored the change, older than a run fired before it."""
    no_attempts = {"attempts": 0, "delay_seconds": 5, "max_delay_seconds": 60}
    nightly = spec("nightly", schedule={"cron": "0 3 * * *"}, reschedule=no_attempts)
    record = await cluster.deployments.ask(CreateDeployment(nightly))
    at = trio.current_time()
    await cluster.deployments.tell(FireRun(record.id, at, at))
    await trio.testing.wait_all_tasks_blocked()
    [(node, first)] = cluster.starts()
    await cluster.report(node, first, "failed", reason="crashed", final=True)
    assert cluster.view("nightly")["state"] == "failed"
    await _supervisor("nightly").tell(Pause(10))
    await cluster.deployments.tell(FireRun(record.id, at + 1, at + 1))  # clears it
    await cluster.deployments.ask(UpdateDeployment("nightly", {"replicas": 1}))
    await trio.sleep(60)
    await trio.testing.wait_all_tasks_blocked()
    [(node, second)] = cluster.starts()[1:]
    await cluster.report(node, second, "failed", reason="crashed again", final=True)
    assert cluster.view("nightly")["state"] == "failed", "\n".join(cluster.events("nightly"))


async def test_a_restart_stored_before_a_replica_gave_up_clears_the_failure(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """``symphony restart`` stores a stop, then a start, both before the supervisor
    hears that a replica gave up: the manager saw no failure, yet the start is a fresh
    one, and the instances it makes do not run under that failure for ever."""
    no_attempts = {"attempts": 0, "delay_seconds": 5, "max_delay_seconds": 60}
    await cluster.deployments.ask(CreateDeployment(spec("web", reschedule=no_attempts)))
    await trio.testing.wait_all_tasks_blocked()
    [(node, first)] = cluster.starts()
    await cluster.report(node, first, "running", pid=10)
    await _supervisor("web").tell(Pause(10))
    await cluster.report(node, first, "failed", reason="crashed", final=True)  # waits
    for state in ("stopped", "running"):
        await cluster.deployments.ask(UpdateDeployment("web", {"desired_state": state}))
    await trio.sleep(60)
    await trio.testing.wait_all_tasks_blocked()
    [(node, second)] = cluster.starts()[1:]
    await cluster.report(node, second, "running", pid=11)
    assert cluster.view("web")["state"] == "running", "\n".join(cluster.events("web"))
    # Cleared in the supervisor too: the next replica to give up fails it again.
    await cluster.report(node, second, "failed", reason="crashed again", final=True)
    assert cluster.view("web")["state"] == "failed", "\n".join(cluster.events("web"))


async def test_a_start_clears_a_failure_set_again_after_the_manager_cleared_it(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """The manager clears the failure it saw when it stores a start; before the start
    is told, a run clears it in the supervisor and a replica gives up again, setting it
    again: the start clears that one too, in the store as well."""
    record_id, at, other, running = await _failed_run_then_busy(cluster)
    await cluster.deployments.tell(FireRun(record_id, at + 1, at + 1))  # clears it
    await trio.testing.wait_all_tasks_blocked()
    await cluster.report(other, running, "failed", reason="crashed too", final=True)  # sets it
    await cluster.deployments.ask(UpdateDeployment("nightly", {"desired_state": "running"}))
    await trio.sleep(60)
    await trio.testing.wait_all_tasks_blocked()
    events = "\n".join(cluster.events("nightly"))
    assert events.count("deployment failed") == 2, events  # set again, as said
    assert cluster.view("nightly")["state"] != "failed", events


async def _stop_and_start_behind_a_change(
    cluster: Cluster, *, failed: bool, replicas: int
) -> tuple[str, StartInstance]:
    """``web``'s one instance runs (then fails, if ``failed``) while its supervisor is
    paused with a full mailbox; a change of ``replicas`` goes on its way, then a stop and
    a start wait behind it; a minute passes. Returns the first start (node, command)."""
    await trio.testing.wait_all_tasks_blocked()
    [(node, first)] = cluster.starts()
    await cluster.report(node, first, "running", pid=10)
    web = _supervisor("web")
    await web.tell(Pause(10))
    await trio.testing.wait_all_tasks_blocked()
    if failed:
        await cluster.report(node, first, "failed", reason="crashed", final=True)  # waits
    fill(web)
    await cluster.deployments.ask(UpdateDeployment("web", {"replicas": replicas}))
    for state in ("stopped", "running"):  # both wait
        await cluster.deployments.ask(UpdateDeployment("web", {"desired_state": state}))
    await trio.sleep(60)
    await trio.testing.wait_all_tasks_blocked()
    return node, first


async def test_a_stop_and_a_start_waiting_together_still_start_afresh(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """As above, but the supervisor's mailbox is full: a change of replicas goes first,
    then the stop and the start wait in the manager's backlog. The start does not take
    the stop's place (the supervisor would see running to running): it starts afresh,
    and the deployment does not stay failed."""
    no_attempts = {"attempts": 0, "delay_seconds": 5, "max_delay_seconds": 60}
    await cluster.deployments.ask(CreateDeployment(spec("web", reschedule=no_attempts)))
    await _stop_and_start_behind_a_change(cluster, failed=True, replicas=1)
    events = "\n".join(cluster.events("web"))
    assert len(cluster.starts()) == 2, events  # started afresh
    assert cluster.view("web")["state"] != "failed", events


async def test_a_stop_and_a_start_waiting_together_restart_what_ran(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """``symphony restart --all-at-once`` (a stop, then a start) of a stuck deployment,
    behind a change of replicas already on its way: the stop and the start both wait
    in the backlog, and the instance that ran is stopped and started again, as it is
    when the supervisor is not busy (merged into one, the supervisor saw running to
    running and restarted nothing)."""
    await cluster.deployments.ask(CreateDeployment(spec("web")))
    node, first = await _stop_and_start_behind_a_change(cluster, failed=False, replicas=2)
    events = "\n".join(cluster.events("web"))
    stops = [c.instance_id for _, c in cluster.commands if isinstance(c, StopInstance)]
    assert first.instance_id in stops, events  # what ran was stopped...
    await cluster.report(node, first, "stopped", final=True)
    await trio.sleep(60)
    await trio.testing.wait_all_tasks_blocked()
    events = "\n".join(cluster.events("web"))
    again = [c for _, c in cluster.starts() if c.replica == 0 and c is not first]
    assert again, events  # ... and started again


async def test_past_the_bound_only_a_stop_or_start_behind_a_waiting_change_waits(
    cluster: Cluster,
) -> None:
    """Past MAX_WAITING, the first change waiting for a supervisor (and one merged into
    it) does not make the manager wait for room: only a stop or a start queued behind a
    change of the other desired state, which adds one more, does (as a report does)."""
    record = cluster.store.create_deployment(spec("web"))
    stopped = replace(record, spec=spec("web", desired_state="stopped"))
    ref = object()
    backlog = Backlog()
    backlog._queues[ref] = deque([NodeReport("node-1", (), False, None)] * MAX_WAITING)  # type: ignore[index]
    assert not backlog._adds(ref, SpecChanged(record))  # type: ignore[arg-type]
    backlog._queues[ref].append(SpecChanged(record))  # type: ignore[index]
    assert not backlog._adds(ref, SpecChanged(record))  # type: ignore[arg-type]
    assert backlog._adds(ref, SpecChanged(stopped))  # type: ignore[arg-type]
