"""DeploymentSupervisor: one actor per deployment, making actual state follow desired state.

It owns the deployment's record and its instance records, and persists every change
before acting on it. What it does, per event:

- desired state or spec changed -> :meth:`_reconcile`: stop instances that should not run
  (replicas scaled down, deployment stopped, an old template), create the ones missing;
  a new version of the template rolls as ``roll.py`` plans it, step by step;
- the Scheduler placed an instance -> ``assigned`` (the node was already told to start it);
- a node reported on an instance -> record the new state, exit code, restarts, health;
  a copy the Conductor does not count (rescheduled elsewhere, deleted) is told to stop;
- a node was lost -> its instances are ``lost`` and replaced (on another node if any);
- a lost instance's own node comes back and says it *exited* meanwhile -> the instance
  shows ``exited`` with its code after all, and its replacement is cancelled if it has
  not run yet (if it has, the job ran twice because of the outage: the replacement is
  kept and a warning logged);
- an instance ``failed`` (the node's restart budget is spent) -> rescheduled after an
  exponential delay, preferring another node, up to ``reschedule.attempts`` times;
- a node is being drained -> its replicas are moved elsewhere (``draining.py``);
- a schedule fired -> a run starts, or every instance restarts (``scheduled.py``).

Restarts themselves happen on the node; the Conductor only follows them.

Stopping is confirmed, never assumed: an instance told to stop stays ``stopping`` (and
keeps its capacity) until its node reports it stopped, its node is lost, or, if it was
never placed, the Scheduler confirms it withdrew it. A stop that cannot reach its node
now is sent again when the node says hello with the instance still in its list.

Who waits on whom: this actor sends down with blocking sends (``tell`` to the Scheduler
and to NodeSessions, ``ask`` GetSession of the NodeRegistry, which never blocks on
anyone) and is told by the Deployments manager above it. What comes back up reaches it
as a reply or through the sender's fan-out (the Scheduler's :class:`PlacementNews`),
so no send of this actor ever waits on something that waits on it.

Where each part lives (mixins, one concept each, combined here): placing and stopping
instances, ``place_and_stop.py``; the Scheduler's news, ``placement_news.py``; a node's
reports, ``node_reports.py``, its hello, ``hello.py``; an instance that exited while its
node was lost, ``outage.py``; failed replicas, ``rescheduling.py``; schedules,
``scheduled.py``; the actor's state and bookkeeping (events, saves, pruning),
``supervisor_base.py``. This module holds the actor's lifecycle and the reconciling.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from symphony.wire.states import InstanceState as S
from symphony.wire.states import is_live

from ..placement import runtime_requests
from ..store import DeploymentRecord, InstanceRecord
from . import carrying
from .draining import drain_moves
from .events import instance_created
from .hello import HelloHandling
from .instances import new_instance, recency
from .messages import (
    AdoptReservations,
    Caught,
    DrainingChanged,
    NodeReport,
    PlacementNews,
    Promote,
    RescheduleDue,
    RollTick,
    SpecChanged,
    Teardown,
    WithdrawInstances,
)
from .node_reports import NodeReportHandling
from .outage import OutageWork
from .place_and_stop import PlaceAndStop
from .placement_news import PlacementNewsHandling
from .rescheduling import Rescheduling
from .roles import adoption, last_place
from .roll import vacant_first
from .scheduled import SCHEDULED, ScheduledWork
from .supervisor_base import KEEP_ENDED_PER_REPLICA, SupervisorBase
from .versions import version_news

__all__ = ["KEEP_ENDED_PER_REPLICA", "DeploymentSupervisor"]


class DeploymentSupervisor(
    NodeReportHandling,
    PlacementNewsHandling,
    Rescheduling,
    HelloHandling,
    ScheduledWork,
    OutageWork,
    PlaceAndStop,
    SupervisorBase,
):
    """Reconciles one deployment; see the module docstring."""

    # ---- lifecycle ---------------------------------------------------------------------
    async def on_start(self) -> None:
        if not self._new:
            # Read back from the store: a change stored may not have been handled yet.
            carried = carrying.at_start(self.record, self.instances.values())
            if carried:
                self._save(carried)
        live = [i for i in self.instances.values() if is_live(i.state)]
        # Being stopped before it was placed: the Scheduler may still hold it (only this
        # actor restarted) or not (the Conductor did); either way it answers.
        unplaced = [i for i in live if i.node_id is None and i.state == S.STOPPING]
        if unplaced:
            await self.scheduler.tell(WithdrawInstances(tuple(i.id for i in unplaced), self.ref))
        live = [i for i in live if i not in unplaced]
        if (last := last_place(self.record, list(self.instances.values()))) is not None:
            # Before the adoptions and placements: a move after a Conductor restart
            # must be seen as one (the Scheduler's memory of places did not survive).
            await self.scheduler.tell(last)
        adopt = tuple(
            adoption(self.record, i.id, i.node_id, i.reservation or self._requests(), i.network)
            for i in live
            if i.node_id is not None
        )
        if adopt:
            await self.scheduler.tell(AdoptReservations(adopt, self.ref))
        waiting = [i for i in live if i.node_id is None]
        if waiting:
            await self._place(waiting)
        self._resume_retries()
        if not self._born_complete():
            await self._reconcile()
        self._record_events()
        self._prune()
        # Placements collected for the manager end with the start: the manager is still
        # handling the create, so no message reached this actor before they are sent.
        self._placements = None

    def _born_complete(self) -> bool:
        """A deployment just created, with its first instances (one pending instance
        per wanted replica, made by the rule reconciling follows) and nothing that moves
        with time (no roll, no schedule): reconciling now would find nothing to do."""
        if not self._new or self._timed():
            return False
        record = self.record
        wanted = self._wanted()
        pending = sorted(
            i.replica
            for i in self.instances.values()
            if i.state == S.PENDING and i.generation == record.generation
        )
        return len(self.instances) == wanted and pending == list(range(wanted))

    async def receive(self, message: Any) -> Any:
        try:
            answer = await self._handle(message)
            self._settle_runs()
        finally:
            self._record_events()
        self._prune()
        self._answer_teardown()
        return answer

    async def _handle(self, message: Any) -> Any:
        if isinstance(message, NodeReport):
            try:
                await self._node_report(message)
            finally:
                message.settle()  # applied: the node's link may pass more on
        elif isinstance(message, PlacementNews):
            await self._news(message)
        elif isinstance(message, SpecChanged):
            await self._told_change(message)
        elif isinstance(message, DrainingChanged):
            self._draining = message.nodes
            await self._reconcile()
        elif isinstance(message, Caught):
            pass  # what was told before it is handled: that is the answer
        elif isinstance(message, RescheduleDue):
            self._retries.elapsed(message.replica, message.attempt, message.avoid)
            await self._reconcile()
        elif isinstance(message, Teardown):
            self._deleting = True
            self._teardown.append(self.defer_reply())
            await self._reconcile()
        elif isinstance(message, SCHEDULED):
            await self._on_schedule(message)
        elif isinstance(message, RollTick):
            self._roll.ticked()
            await self._reconcile()
        elif isinstance(message, Promote):
            return await self._promote()
        else:
            raise TypeError(f"DeploymentSupervisor does not handle {type(message).__name__}")
        return None

    # ---- desired state -------------------------------------------------------------------
    def _wanted(self) -> int:
        spec = self.record.spec
        return 0 if self._deleting or spec.desired_state == "stopped" else self._wanted_replicas()

    async def _reconcile(self) -> None:
        wanted = self._wanted()
        self._roll.observe(self.record, self.instances)
        roll = self._roll.plan(self.record, self.instances, wanted)  # None: no roll
        if roll is not None:
            for kind, text in roll.events:
                self._event(kind, text)
            if roll.reverted:  # to the last good version: a change of the spec
                return await self._spec_changed(roll.record, False)
            self.record = roll.record
            self._roll.start_timer(self.nursery, self.ref)
        generation = self.record.generation
        stops = list(roll.stops) if roll is not None else []
        # Replicas whose instance from before the deployment's last start still lives: a
        # start replaces it, never runs beside it (a job that cannot run twice), so the
        # new one comes once it has stopped (its report reconciles again).
        held: set[int] = set()
        for inst in [i for i in self.instances.values() if is_live(i.state)]:
            if inst.replica >= wanted:
                stops.append((inst, "deployment stopped" if wanted == 0 else "scaled down"))
            elif inst.generation != generation and roll is None:
                stops.append((inst, carrying.replaced_because(self.record, inst)))
                if inst.generation < self.record.fresh_generation:
                    held.add(inst.replica)
        moves = drain_moves(self.instances, self._draining, wanted, generation, self._retries)
        await self._stop([*stops, *moves.stops])
        for inst, text in moves.notes:
            self._event("draining", text, inst)
        latest = self._latest()
        missing = [
            r for r in range(wanted) if r not in held and self._needs_instance(r, latest.get(r))
        ]
        if roll is not None:
            missing = vacant_first(missing, self.instances.values())[: roll.start]
        missing += moves.replace
        self._restart_completed = False
        if missing:
            created = [new_instance(self.record, r) for r in missing]
            for replica in missing:
                self._retries.created(replica)
            self._runs.created(created)
            self._unrecorded.extend(instance_created(self.record, i) for i in created)
            self._save(created)  # with the events: one transaction
            await self._place(created)

    def _needs_instance(self, replica: int, latest: InstanceRecord | None) -> bool:
        if (run := self._run_needs(replica, latest)) is not None:
            return run  # a scheduled deployment: its runs decide
        if self._retries.blocks(replica):
            return False
        if latest is None or self._restart_completed or replica in self._retries.due:
            return latest is None or not is_live(latest.state)
        # A job that finished is done (unless the deployment is started again); a
        # failed one is handled by the reschedule policy (``due`` above).
        return not is_live(latest.state) and latest.state not in (S.EXITED, S.FAILED)

    def _latest(self) -> dict[int, InstanceRecord]:
        """Each replica's most recent instance of the current generation (a live one if
        any), in one pass: reconciling must stay linear in the number of instances."""
        latest: dict[int, InstanceRecord] = {}
        for inst in self.instances.values():
            if inst.generation != self.record.generation:
                continue
            best = latest.get(inst.replica)
            if best is None or recency(inst) > recency(best):
                latest[inst.replica] = inst
        return latest

    def _requests(self) -> dict[str, int]:
        return runtime_requests(self.record.spec.kind, self.record.spec.capacity_requests)

    async def _told_change(self, message: SpecChanged) -> None:
        """A change the manager stored, applied unless the record held is as new: this
        actor restarted since and read the store, while its mailbox (kept across
        restarts) still holds the changes told before. Every write of a spec (an update,
        a rollback, a revert) adds one to the generation. What is written without it (the
        roll's state, a failure) is this actor's to write, changed only in the record it
        holds, never read back from the store: the store takes a roll's state only under
        the generation the roll belongs to, and the manager only clears a failure (for a
        fresh start) before telling it. So a record with no higher generation is the
        same or older: applying it would undo what is stored until the next change came.
        A fresh start it asked is no loss either: the restart read the store, where an
        ended instance of an older generation counts for no replica (``carrying.py``:
        only live ones are carried over), so each such replica gets a new instance, and
        attempts start from zero.

        A newer record's failure is what the manager read when it stored the change;
        this actor may have written another since (a run fired before the change was
        told clears it, a replica giving up sets it): the one held is kept, unless the
        change starts the deployment afresh. The manager says so (``fresh_start``) when
        it saw the failure; a change from stopped to running is one whatever it saw: a
        replica may have given up after both halves of ``symphony restart`` (stop,
        then start) were stored, and the instances the start makes would run on under a
        failure nothing clears. Either way the store's is cleared too: it may have been
        set again since the manager cleared it.

        A change that starts a roll (``new_roll``) drops a roll failure still waiting
        to be written: it was the roll's before, even when this one rolls the same
        version (a rollback to it that took a change's place in the manager's queue)."""
        if message.record.generation <= self.record.generation:
            return
        if message.new_roll:
            self._roll.new_roll(message.record)
        if message.fresh_start or _starts(self.record, message.record):
            if self.record.failure is not None:
                self.store.set_deployment_failure(self.record.id, None)
            record = replace(message.record, failure=None)
        else:
            record = replace(message.record, failure=self.record.failure)
        await self._spec_changed(record, message.fresh_start)

    async def _spec_changed(self, record: DeploymentRecord, fresh_start: bool) -> None:
        old = self.record
        self.record = record
        # Instances running the version now current are carried over (its processes
        # would be identical): see carrying.py.
        self._save(carrying.told(record, old.generation, self.instances.values()))
        if record.version != old.version:
            news = version_news(record.version, self.instances.values(), self._wanted())
            self._event("updated", news)
        if _starts(old, record) or fresh_start:
            self._retries.reset()
            self._restart_completed = True
        await self._reconcile()

    async def _promote(self) -> Any:
        promoted = self._roll.promote(self.record)
        if isinstance(promoted, str):
            return promoted
        self.record = promoted
        self._event("promoted", f"version {promoted.version} promoted: the roll goes on")
        await self._reconcile()
        return self.record

    def _timed(self) -> bool:
        """Whether reconciling may act on more than the instances' states: a roll (it
        reads reasons and waits on health over time) or a schedule's runs."""
        return self.record.roll_state is not None or self.record.spec.schedule is not None


def _starts(old: DeploymentRecord, new: DeploymentRecord) -> bool:
    """Whether going from ``old`` to ``new`` starts the deployment (stopped to running):
    a fresh start, whatever failure the manager saw (see ``_told_change``)."""
    return old.spec.desired_state == "stopped" and new.spec.desired_state == "running"
