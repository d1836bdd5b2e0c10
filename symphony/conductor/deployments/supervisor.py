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
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import replace
from typing import Any

import trio

from symphony.wire import InstanceStatus, JobSpec, StartInstance, StopInstance
from symphony.wire.states import InstanceState as S
from symphony.wire.states import is_live

from ..placement import runtime_requests
from ..store import DeploymentRecord, InstanceRecord
from .claims import claim
from .commands import send_batched, tell_session
from .draining import drain_moves
from .events import instance_created
from .experiment_placement import with_env
from .hello import HelloHandling
from .instances import (
    apply_update,
    ended,
    ended_by_itself,
    evolved,
    forget_ended,
    is_final_update,
    job_spec,
    new_instance,
    recency,
    restarts_added,
    start_command,
    status_event,
)
from .messages import (
    AdoptReservations,
    DrainingChanged,
    NodeReport,
    Placed,
    PlaceInstances,
    PlacementNews,
    Promote,
    ReleaseInstances,
    RescheduleDue,
    ReservationsLost,
    RollTick,
    SpecChanged,
    Teardown,
    Unplaceable,
    WithdrawInstances,
)
from .outage import OutageWork
from .retries import Decision
from .roles import adoption, placement_request, reconnects
from .roll import vacant_first
from .scheduled import SCHEDULED, ScheduledWork
from .secret_delivery import (
    SECRET_ERRORS,
    SECRETS_PROTOCOL,
    needs_protocol,
    relay_protocol,
    secret_values,
)
from .supervisor_base import SupervisorBase

log = logging.getLogger("symphony.conductor.deployments")

#: Ended instances kept per replica for history (older ones are deleted).
KEEP_ENDED_PER_REPLICA = 3


class DeploymentSupervisor(HelloHandling, ScheduledWork, OutageWork, SupervisorBase):
    """Reconciles one deployment; see the module docstring."""

    # ---- lifecycle ---------------------------------------------------------------------
    async def on_start(self) -> None:
        live = [i for i in self.instances.values() if is_live(i.state)]
        # Being stopped before it was placed: the Scheduler may still hold it (only this
        # actor restarted) or not (the Conductor did); either way it answers.
        unplaced = [i for i in live if i.node_id is None and i.state == S.STOPPING]
        if unplaced:
            await self.scheduler.tell(WithdrawInstances(tuple(i.id for i in unplaced), self.ref))
        live = [i for i in live if i not in unplaced]
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

    def _resume_retries(self) -> None:
        """After a restart: replicas whose latest run failed are given up (the deployment
        failed) or rescheduled again (their delay timers did not survive)."""
        latest_of = self._latest()
        for replica in range(self._wanted()):
            latest = latest_of.get(replica)
            if latest is None or is_live(latest.state) or latest.state != S.FAILED:
                continue
            if self.record.failure is not None:
                self._retries.gave_up.add(replica)
            else:
                self._reschedule(latest)

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
            await self._spec_changed(message.record, message.fresh_start)
        elif isinstance(message, DrainingChanged):
            self._draining = message.nodes
            await self._reconcile()
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
        for inst in [i for i in self.instances.values() if is_live(i.state)]:
            if inst.replica >= wanted:
                stops.append((inst, "deployment stopped" if wanted == 0 else "scaled down"))
            elif inst.generation != generation and roll is None:
                stops.append((inst, "replaced by a new version of the spec"))
        moves = drain_moves(self.instances, self._draining, wanted, generation, self._retries)
        await self._stop([*stops, *moves.stops])
        for inst, text in moves.notes:
            self._event("draining", text, inst)
        latest = self._latest()
        missing = [r for r in range(wanted) if self._needs_instance(r, latest.get(r))]
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

    async def _place(self, instances: list[InstanceRecord]) -> None:
        spec = self.record.spec
        body = job_spec(spec)
        try:
            values = secret_values(self.secrets, spec)
        except SECRET_ERRORS as error:
            for inst in instances:
                self._event("failed", f"{inst.id} failed: {error}", inst)
                await self._end(inst, S.FAILED, f"cannot start: {error}")
            return
        requests = tuple(
            needs_protocol(
                placement_request(
                    self.record,
                    inst,
                    self._avoid.get(inst.replica, frozenset()),
                    self._start_command(inst, body, values),
                ),
                max(SECRETS_PROTOCOL if values else 1, relay_protocol(self.record.spec)),
            )
            for inst in instances
        )
        place = PlaceInstances(requests, self.ref)
        if self._placements is not None:  # a new deployment's start: sent with its group's
            self._placements.append(place)
        else:
            await self.scheduler.tell(place)

    def _start_command(
        self, inst: InstanceRecord, body: JobSpec, values: dict[str, str] | None
    ) -> StartInstance:
        start = start_command(self.record, inst, body, values)
        env = inst.network.get("env")  # an experiment's process, placed: its SYMPH_* values
        return with_env(start, env) if env else start

    async def _stop(self, stops: list[tuple[InstanceRecord, str]]) -> None:
        """Mark instances ``stopping`` and tell their nodes (or the Scheduler) so.

        An instance not placed yet may be placed at this very moment: the Scheduler
        answers a withdrawal with ``withdrawn`` or with the ``Placed`` already on its
        way, and only then does the instance end (see :meth:`_news`).
        """
        stops = [(i, r) for i, r in stops if i.state != S.STOPPING]
        if not stops:
            return
        self._save([replace(inst, state=S.STOPPING, reason=reason) for inst, reason in stops])
        withdraw: list[str] = []
        commands: dict[str, list[StopInstance]] = defaultdict(list)
        for inst, reason in stops:
            if inst.node_id is None:
                withdraw.append(inst.id)
                continue
            self._event("stopping", f"stopping {inst.id}: {reason}", inst)
            commands[inst.node_id].append(StopInstance(instance_id=inst.id, reason=reason))
        if withdraw:
            await self.scheduler.tell(WithdrawInstances(tuple(withdraw), self.ref))
        for node_id, batch in commands.items():
            await self._send(node_id, batch)

    async def _end(self, inst: InstanceRecord, state: S, reason: str | None) -> None:
        self._save([record := ended(inst, state, reason)])
        await self._release([record.id])

    async def _release(self, ids: list[str]) -> None:
        if ids:
            await self.scheduler.tell(ReleaseInstances(tuple(ids)))

    async def _spec_changed(self, record: DeploymentRecord, fresh_start: bool) -> None:
        old = self.record
        self.record = record
        # Instances running the version now current are carried over (its processes
        # would be identical), also those of an older generation still running: going
        # back to a version keeps the instances that never stopped running it.
        carried = [
            replace(i, generation=record.generation)
            for i in self.instances.values()
            if i.version == record.version
            and i.generation != record.generation
            and (i.generation == old.generation or is_live(i.state))
        ]
        self._save(carried)
        if record.version != old.version:
            self._event("updated", f"version {record.version}: instances will be replaced")
        started = old.spec.desired_state == "stopped" and record.spec.desired_state == "running"
        if started or fresh_start:
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

    # ---- what the scheduler says ---------------------------------------------------------------
    async def _news(self, news: PlacementNews) -> None:
        stops: dict[str, list[StopInstance]] = defaultdict(list)
        forgotten: list[str] = []
        assigned: list[InstanceRecord] = []
        for placed in news.placed:
            inst = self.instances.get(placed.instance_id)
            if inst is None or not is_live(inst.state):
                forgotten.append(placed.instance_id)
            record, stop = self._placed(placed)
            if record is not None:
                assigned.append(record)
            if stop is not None:
                stops[placed.node_id].append(stop)
        # One transaction for a whole burst of placements, and for the other
        # supervisors' placements of the same moment.
        await self._save_together(assigned)
        await self._release(forgotten)  # nothing here would ever release them
        for lost in news.lost:
            self._lost(lost)
        withdrawn = [self.instances.get(i) for i in news.withdrawn]
        self._save(
            [
                ended(i, S.STOPPED, i.reason)
                for i in withdrawn
                if i is not None and is_live(i.state) and i.node_id is None
            ]
        )
        # Each reason with its event; like the placements, in one transaction with the
        # other supervisors hearing theirs at the same moment. (A new deployment's first
        # instances come with the reason foreseen at its create: the Scheduler tells
        # only one that changed since.)
        reasons = [r for u in news.unplaceable if (r := self._unplaceable(u)) is not None]
        await self._save_together(reasons)
        await self._stop(reconnects(self.instances, news.reconnect))
        for node_id, batch in stops.items():
            await self._send(node_id, batch)
        if news.placed or news.lost or news.withdrawn or news.reconnect or self._timed():
            await self._reconcile()
        # Else only reasons changed: the end of the last message reconciled everything
        # else as it is now, and no rule reads a reason (only a roll does).

    def _timed(self) -> bool:
        """Whether reconciling may act on more than the instances' states: a roll (it
        reads reasons and waits on health over time) or a schedule's runs."""
        return self.record.roll_state is not None or self.record.spec.schedule is not None

    def _placed(self, msg: Placed) -> tuple[InstanceRecord | None, StopInstance | None]:
        """The instance's record once placed (to save), and the stop to send if it is no
        longer wanted."""
        inst = self.instances.get(msg.instance_id)
        if inst is None or not is_live(inst.state):
            # Forgotten (or ended) while the placement was under way, across a restart of
            # this actor: its start is on its way to the node, so stop it there.
            return None, StopInstance(instance_id=msg.instance_id, reason="no longer wanted")
        placed = {
            "node_id": msg.node_id,
            "reservation": dict(msg.reservation),
            "network": dict(msg.network),
        }
        if inst.state == S.STOPPING:
            self._event("stopping", f"stopping {inst.id}: {inst.reason}", inst)
            stop = StopInstance(instance_id=inst.id, reason=inst.reason or "stopped")
            return evolved(inst, placed), stop  # still stopping, with its reason
        self._event("placed", f"{inst.id} placed on {msg.node_id}", inst)
        return evolved(inst, {**placed, "state": S.ASSIGNED, "reason": None}), None

    def _unplaceable(self, msg: Unplaceable) -> InstanceRecord | None:
        """The instance with the Scheduler's reason (to save; its event is noted), or
        None if nothing changes."""
        inst = self.instances.get(msg.instance_id)
        if inst is None or inst.node_id is not None or inst.state != S.PENDING:
            return None  # placed meanwhile, ended, or being stopped before it was placed
        if inst.reason == msg.reason:
            return None
        self._event("pending", f"{inst.id} pending: {msg.reason}", inst)
        return evolved(inst, {"reason": msg.reason})

    def _lost(self, msg: ReservationsLost) -> None:
        for instance_id in msg.instance_ids:
            inst = self.instances.get(instance_id)
            if inst is None or not is_live(inst.state):
                continue
            reason = f"node {msg.node_id} lost"
            self._save([ended(inst, S.LOST, reason)])
            self._avoid[inst.replica] = frozenset({msg.node_id})
            self._event("lost", f"{inst.id}: {reason}; rescheduling", inst)

    # ---- what nodes say ---------------------------------------------------------------------
    async def _node_report(self, report: NodeReport) -> None:
        seen: set[str] = set()
        changed: dict[str, InstanceRecord] = {}
        restarts = 0
        for update in report.updates:
            seen.add(update.instance_id)
            before = self.instances.get(update.instance_id)
            after = await self._apply(report, update)
            if after is not None:
                restarts += restarts_added(before, after)
                # Kept in memory now (a later update in this report builds on it) and
                # written with the others in one transaction below.
                self.instances[after.id] = changed[after.id] = after
        # Once per report, with the other supervisors' parts of the same frame.
        await self._save_together(list(changed.values()), restarts=restarts)
        # Capacity is released once the end is on disk.
        await self._release([i for i in changed if not is_live(self.instances[i].state)])
        if report.session is not None:
            await send_batched(report.session, forget_ended(self._ended_there(report, changed)))
        if report.full:
            await self._after_hello(report, seen)
        await self._reconcile()

    def _ended_there(self, report: NodeReport, changed: dict[str, InstanceRecord]) -> list[str]:
        """The instances whose end by itself on the node is on disk here by now: the node
        may forget them. Once, when the end is recorded; again on each hello that still
        lists one (the stop was lost with the link, or the agent restarted first)."""
        return [
            u.instance_id
            for u in report.updates
            if ended_by_itself(u)
            and (u.instance_id in changed or report.full)
            and not self._live_on(u.instance_id, report.node_id)
        ]

    def _live_on(self, instance_id: str, node_id: str) -> bool:
        inst = self.instances.get(instance_id)
        return inst is not None and inst.node_id == node_id and is_live(inst.state)

    async def _apply(self, report: NodeReport, update: InstanceStatus) -> InstanceRecord | None:
        """The instance after ``update`` (to be saved), or None if nothing changes."""
        inst = self.instances.get(update.instance_id)
        if (
            inst is not None
            and inst.state == S.LOST
            and inst.node_id == report.node_id
            and update.state == S.EXITED
            and is_final_update(update)
        ):
            return await self._exited_while_lost(inst, update)
        stale = (
            inst is None
            or (inst.node_id is not None and inst.node_id != report.node_id)
            or (not is_live(inst.state) and inst.state in (S.LOST, S.STOPPED))
        )
        if stale:
            if not is_final_update(update) and report.session is not None:
                log.info("stopping stale copy %s on %s", update.instance_id, report.node_id)
                await tell_session(
                    report.session,
                    StopInstance(
                        instance_id=update.instance_id,
                        reason="stale copy: this instance was rescheduled or removed",
                    ),
                )
            return None
        assert inst is not None
        if not is_live(inst.state):
            return None  # already ended here; a repeated final report changes nothing
        if inst.node_id is None:
            # Placed and started, but the conductor went down before recording it, or
            # the node's report overtook the placement; else never given (claims.py).
            claimed = await claim(self, inst, report, update)
            if claimed is None:
                return None
            inst = claimed
        before = inst
        after = apply_update(inst, update)
        if inst.state == S.STOPPING and is_live(after.state):
            # Told to stop: it stays stopping until the node confirms. If the node says
            # hello with it still running, our stop never reached it: say it again.
            after = replace(after, state=S.STOPPING, reason=inst.reason)
            if report.full and report.session is not None:
                stop = StopInstance(instance_id=inst.id, reason=inst.reason or "stopped")
                await tell_session(report.session, stop)
        event = status_event(before, after, update)
        if event is not None:
            kind, text, data = event
            self._event(kind, text, after, **data)
        if after.state == S.FAILED and not is_live(after.state):
            self._reschedule(after)
        return after

    def _reschedule(self, inst: InstanceRecord) -> None:
        if self._deleting or inst.replica >= self._wanted():
            return
        policy = self.record.spec.reschedule
        decision = self._retries.failed(inst.replica, inst.node_id, policy)
        if decision.gives_up:
            reason = (
                f"replica {inst.replica} failed after {decision.attempts} reschedule "
                f"attempt(s): {inst.reason or 'its restart budget was spent'}"
            )
            self._fail_deployment(reason, inst)
            return
        assert decision.delay is not None
        elsewhere = f", preferring a node other than {inst.node_id}" if inst.node_id else ""
        self._event(
            "rescheduled",
            f"replica {inst.replica} will be rescheduled in {decision.delay:.1f} s "
            f"(attempt {decision.attempt} of {decision.attempts}{elsewhere})",
            inst,
            delay_seconds=round(decision.delay, 3),
        )
        self.nursery.start_soon(self._reschedule_later, decision)

    async def _reschedule_later(self, decision: Decision) -> None:
        assert decision.delay is not None
        await trio.sleep(decision.delay)
        await self.ref.tell(RescheduleDue(decision.replica, decision.avoid, decision.attempt))

    def _fail_deployment(self, reason: str, inst: InstanceRecord | None) -> None:
        """Stop trying: the deployment is ``failed`` until it is started again."""
        if self.record.failure is None:
            record = self.store.set_deployment_failure(self.record.id, reason)
            self.record = record if record is not None else self.record
            self._event("failed", f"deployment failed: {reason}", inst)
