"""Runs of a scheduled deployment: the bookkeeping of one DeploymentSupervisor.

A deployment with a ``schedule`` has no instances between runs. Each :class:`FireRun`
starts a **run**: ``replicas`` new instances in a block of replica numbers of its own
(block *k* holds replicas *k·R* .. *k·R+R-1*), so runs that overlap
(``concurrency: allow``) never share a replica. Within a run the restart policy
applies on the node (``never`` or ``on-failure``), and a failed or lost instance is
rescheduled or replaced as for any deployment. A run ends when every replica's last
instance has ended with no reschedule pending: ``succeeded`` if each exited 0,
``stopped`` if one was stopped, else ``failed``.

A time that comes while a run is still going does what a Kubernetes CronJob's
``concurrencyPolicy`` says: ``forbid`` skips it (an event says so), ``allow`` starts
the new run beside the old one, ``replace`` stops the old run (``replaced``) and starts
the new one.

The runs live in the store (:class:`~symphony.conductor.store.RunRecord`), written
before they act, so a restarted supervisor goes on with the runs it had.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime, tzinfo

from symphony.spec import time_zone
from symphony.wire.states import InstanceState as S
from symphony.wire.states import is_live

from ..store import DeploymentRecord, InstanceRecord, RunMember, RunRecord, RunState, Store
from .messages import FireRun
from .retries import Retries

#: How a supervisor notes an event: ``note(kind, message, instance, **data)``.
Note = Callable[..., None]


def when(stamp: float, zone: str = "UTC") -> str:
    """A cron time for messages, in the time zone its schedule reads its cron in (the
    zone ``symphony runs`` shows the runs in), named: ``2026-06-01 14:05 Europe/Berlin``.
    A zone no longer known here (the spec was checked when stored) gives UTC."""
    try:
        tz: tzinfo = time_zone(zone)
    except ValueError:
        tz, zone = UTC, "UTC"
    return f"{datetime.fromtimestamp(stamp, tz):%Y-%m-%d %H:%M} {zone}"


class RunBook:
    """The runs of one deployment; its supervisor feeds it events and asks it questions."""

    def __init__(
        self, store: Store, deployment_id: str, active: list[RunRecord] | None = None
    ) -> None:
        """``active``: the runs going on, if known (a deployment just created has
        none); else they are read from the store."""
        self.store = store
        self.deployment_id = deployment_id
        if active is None:
            active = store.list_runs(deployment_id, active_only=True)
        self.active: dict[int, RunRecord] = {r.number: r for r in active}
        # Replicas of a run that have not had an instance yet.
        self._fresh = {m.replica for r in active for m in r.members if m.instance_id is None}

    def width(self) -> int:
        """How many replica numbers the runs going on use (the supervisor's "wanted")."""
        return max((m.replica + 1 for r in self.active.values() for m in r.members), default=0)

    def needs(self, replica: int, latest: InstanceRecord | None) -> bool | None:
        """Whether ``replica`` needs a new instance: a run just started it (True unless
        one is live), it is in no run (False), or the usual rules decide (None)."""
        if replica in self._fresh:
            return latest is None or not is_live(latest.state)
        if any(replica in run.replicas for run in self.active.values()):
            return None
        return False

    def fire(
        self,
        message: FireRun,
        record: DeploymentRecord,
        instances: Mapping[str, InstanceRecord],
        retries: Retries,
        note: Note,
    ) -> list[tuple[InstanceRecord, str]]:
        """Start a run (or skip it, as ``concurrency`` says); returns the instances to
        stop (those of a run it replaces)."""
        schedule = record.spec.schedule
        if schedule is None or record.spec.desired_state == "stopped":
            return []
        number = max(self.store.last_run_number(self.deployment_id), *self.active, 0) + 1
        stops: list[tuple[InstanceRecord, str]] = []
        if self.active and schedule.concurrency == "forbid":
            going = ", ".join(str(n) for n in sorted(self.active))
            note(
                "run-skipped",
                f"run for {when(message.scheduled_at, schedule.timezone)} skipped: "
                f"run {going} is still running (concurrency: forbid)",
            )
            return []
        if self.active and schedule.concurrency == "replace":
            for run in list(self.active.values()):
                reason = f"run {run.number} replaced by run {number}"
                stops += [(i, reason) for i in _live_of(run, instances.values())]
                self._finish(run, RunState.REPLACED, instances, schedule.history, message.fired_at)
                note("run-replaced", reason)
        replicas = self._free_block(record.spec.replicas, instances.values())
        run = RunRecord(
            deployment_id=self.deployment_id,
            number=number,
            scheduled_at=message.scheduled_at,
            started_at=message.fired_at,
            members=tuple(RunMember(r) for r in replicas),
            catch_up=message.catch_up,
        )
        self.store.save_run(run, keep=schedule.history)
        self.active[number] = run
        self._fresh.update(replicas)
        _forget(retries, replicas)
        extra = f", catching up ({message.skipped} earlier time(s) skipped)"
        note(
            "run-started",
            f"run {number} for {when(message.scheduled_at, schedule.timezone)} started: "
            f"{len(replicas)} instance(s){extra if message.catch_up else ''}",
            run=number,
        )
        return stops

    def created(self, instances: Iterable[InstanceRecord]) -> None:
        """New instances were made: each becomes its replica's member of its run."""
        changed: dict[int, RunRecord] = {}
        for inst in instances:
            for run in self.active.values():
                if inst.replica in run.replicas:
                    run = changed.get(run.number, run)
                    members = tuple(
                        RunMember(m.replica, inst.id) if m.replica == inst.replica else m
                        for m in run.members
                    )
                    changed[run.number] = replace(run, members=members)
            self._fresh.discard(inst.replica)
        for run in changed.values():
            self.active[run.number] = run
            self.store.save_run(run, keep=1_000_000)  # running: nothing finished to prune

    def settle(
        self,
        instances: Mapping[str, InstanceRecord],
        retries: Retries,
        history: int,
        note: Note,
    ) -> None:
        """Finish every run whose replicas have all ended (see the module docstring)."""
        for run in list(self.active.values()):
            ends: list[InstanceRecord] = []
            for member in run.members:
                inst = instances.get(member.instance_id or "")
                pending = member.replica in retries.waiting or member.replica in retries.due
                if inst is None or is_live(inst.state) or pending:
                    break
                ends.append(inst)
            else:
                state = _outcome(ends)
                self._finish(run, state, instances, history, None)
                codes = ", ".join(str(i.exit_code) for i in ends) or "none"
                note(f"run-{state.value}", f"run {run.number} {state.value} (exit codes: {codes})")

    def _finish(
        self,
        run: RunRecord,
        state: RunState,
        instances: Mapping[str, InstanceRecord],
        history: int,
        at: float | None,
    ) -> None:
        members = []
        ended_at = []
        for m in run.members:
            inst = instances.get(m.instance_id or "")
            if inst is None:
                members.append(m)
                continue
            members.append(RunMember(m.replica, inst.id, inst.state.value, inst.exit_code))
            if inst.finished_at is not None:
                ended_at.append(inst.finished_at)
        finished = at if at is not None else max(ended_at, default=time.time())
        done = replace(run, state=state, finished_at=finished, members=tuple(members))
        self.store.save_run(done, keep=history)
        self.active.pop(run.number, None)
        self._fresh.difference_update(run.replicas)

    def _free_block(self, replicas: int, instances: Iterable[InstanceRecord]) -> tuple[int, ...]:
        """The first block of ``replicas`` numbers that no run and no live instance uses."""
        busy = {i.replica for i in instances if is_live(i.state)}
        busy.update(m.replica for r in self.active.values() for m in r.members)
        block = 0
        while any(r in busy for r in range(block * replicas, (block + 1) * replicas)):
            block += 1
        return tuple(range(block * replicas, (block + 1) * replicas))


def _live_of(run: RunRecord, instances: Iterable[InstanceRecord]) -> list[InstanceRecord]:
    replicas = set(run.replicas)
    return [i for i in instances if i.replica in replicas and is_live(i.state)]


def _outcome(ends: list[InstanceRecord]) -> RunState:
    if any(i.state == S.STOPPED for i in ends):
        return RunState.STOPPED
    if all(i.state == S.EXITED and i.exit_code == 0 for i in ends):
        return RunState.SUCCEEDED
    return RunState.FAILED


def _forget(retries: Retries, replicas: Iterable[int]) -> None:
    """A new run starts its replicas afresh: no reschedule attempts spent, none given up."""
    for replica in replicas:
        retries.spent.pop(replica, None)
        retries.waiting.discard(replica)
        retries.due.discard(replica)
        retries.gave_up.discard(replica)
        retries.avoid.pop(replica, None)


def is_scheduled(record: DeploymentRecord) -> bool:
    """Whether the deployment runs on a schedule (instances only during runs)."""
    return record.spec.schedule is not None
