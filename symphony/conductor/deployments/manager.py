"""The Deployments actor: creates, changes and deletes deployments; routes node reports.

It is a :class:`~symphony.actors.Supervisor` with one :class:`DeploymentSupervisor`
child per deployment (named by the deployment id), so a crashing deployment is
restarted from the store without disturbing the others. Writes that the API
acknowledges are committed to the store first.

Who waits on whom: the API asks it (create, update, delete); it tells its supervisors
(down) and, for instances of deleted deployments, node sessions. It tells the Scheduler
(down) and asks it, bounded, why a group of creates would wait (``foresight.py``): the
Scheduler never waits on it. Node news reaches it
from the NodeRegistry's fan-out, so routing a report to a busy supervisor delays only
this actor, never the registry. A delete waits for its supervisor's Teardown in a
background task, since the stops' confirmations arrive through this very mailbox.

Draining: when a node starts or stops being drained (a :class:`NodeChanged` saying so),
every supervisor is told the nodes being drained now (:class:`DrainingChanged`). A drain
reaches the Scheduler first, so a replacement is never placed on a draining node. An
undrain reaches the supervisors first: those with instances on the node are then asked
:class:`Caught`, all at once and bounded in total, so each has withdrawn the
replacements it no longer needs (those still waiting to be placed) before the Scheduler
hears the node takes work again, else it would place them there only for them to be
stopped at once. The Scheduler hears of it even if that failed.
Known from the store at start, the set survives a restart.

Schedules: the Timetable tells this actor :class:`FireRun` / :class:`RestartDue`
(down, like the API's requests), routed to the deployment's supervisor (a rolling
restart is stored here first, as a change: ``restarting.py``). After a create,
change or delete of a deployment with a schedule (before or after) it pokes the
Timetable with :class:`SchedulesChanged` through
``tell_nowait``, never waiting on it (a full mailbox drops the poke: the Timetable
re-reads every schedule whenever it handles anything, so pokes coalesce).

Node news reaches the Scheduler through this actor too (it is the registry's one
subscriber in the Conductor), because of an ordering the two would otherwise race on:
a node's hello (its full list, :class:`InstancesReported`) is *applied* by every
supervisor concerned - asked, not just told - before the Scheduler hears the node is
ready (:class:`NodeChanged`). So the Scheduler never places new work on a returning
node before its owners have seen what it ran meanwhile: an instance that finished
during an outage is recorded, and its replacement withdrawn, before the replacement
could be placed on that very node.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import trio

from symphony.actors import (
    ActorCrashed,
    ActorRef,
    ActorStopped,
    AskTimeout,
    ChildSpec,
    MailboxFull,
    Reply,
    Supervisor,
)
from symphony.spec import DeploymentSpec, SpecError, secret_refs
from symphony.wire import InstanceStatus, StopInstance
from symphony.wire.states import LIVE_STATES

from ..nodes.model import ExpectNodes, InstancesReported, NodeChanged
from ..secrets import SecretVault
from ..store import (
    DeploymentRecord,
    GenerationConflict,
    InstanceRecord,
    NameConflict,
    NotFound,
    RollConflict,
    Store,
)
from . import creating, experiments, restarting
from .commands import send_batched
from .creating import BatchRefused, CreateQueue, FlushCreates
from .events import EventLog
from .experiments import EXPERIMENT_MESSAGES
from .foresight import Foresight
from .instances import ended_by_itself, forget_ended, is_final_update
from .messages import (
    Caught,
    CreateDeployment,
    CreateDeployments,
    DeleteDeployment,
    DrainingChanged,
    FireRun,
    NodeReport,
    PlaceInstances,
    Promote,
    PromoteDeployment,
    RestartDeployment,
    RestartDue,
    RollbackDeployment,
    SchedulesChanged,
    SpecChanged,
    UpdateDeployment,
)
from .roll import PROMOTED, RESTART_REASON, ROLLING, kept_during
from .supervisor import DeploymentSupervisor
from .teardown import Teardowns, claim_teardowns, tear_down
from .versions import restart_copy, rollback_target, rolled_back, version_of

log = logging.getLogger("symphony.conductor.deployments")

#: How long the Scheduler's news of a node may wait, in total, for the supervisors
#: concerned to apply its hello (or act on an undrain), all asked at once: see the
#: module docstring.
HELLO_APPLY_TIMEOUT = 10.0


#: The errors a create or update may meet that are the caller's to fix. Anything else
#: is a bug or a broken store: it crashes this actor (its supervisor restarts it from the
#: store), and the asker gets ActorCrashed, which the API answers with a logged 500.
REFUSALS = (SpecError, NameConflict, NotFound, GenerationConflict, RollConflict)
Refusal = SpecError | NameConflict | NotFound | GenerationConflict | RollConflict | BatchRefused


def _being_deleted(record: DeploymentRecord) -> GenerationConflict:
    return GenerationConflict(
        f"deployment {record.name} is being deleted (its processes are stopping); "
        "nothing was changed"
    )


@dataclass(frozen=True, slots=True)
class Failed:
    """A refused request: the API turns ``error`` into the right HTTP status."""

    error: Refusal


class Deployments(Supervisor):
    """Owns the set of deployments; see the module docstring."""

    def __init__(
        self,
        *,
        store: Store,
        scheduler: ActorRef,
        registry: ActorRef,
        events: EventLog,
        secrets: SecretVault | None = None,
        timetable: ActorRef | None = None,
    ) -> None:
        super().__init__(strategy="one_for_one", max_restarts=50, max_seconds=60)
        self.store = store
        self.secrets = secrets  # None: specs may not reference secrets
        self.scheduler = scheduler
        self.registry = registry
        self.events = events
        self.timetable = timetable  # poked when schedules may have changed
        self._draining = frozenset(store.draining_nodes())  # told to every supervisor
        self.creates = CreateQueue()  # stored in groups (see creating.py)
        self.foresight = Foresight()  # why new groups would wait (see foresight.py)
        #: Deployments being torn down (a DELETE waits for their stops), each with the
        #: Event its teardown sets when it ends: a change to one is refused, not stored
        #: to vanish with it, and a repeated DELETE joins it (see teardown.py).
        self.deleting: dict[str, trio.Event] = {}

    async def on_start(self) -> None:
        for record in self.store.list_deployments():
            await self.start_child(self._child_spec(record.id))
        # Nodes that ran instances before a restart: lost, unless they come back in time.
        live = self.store.list_instances(states=sorted(LIVE_STATES))
        expected = sorted({i.node_id for i in live if i.node_id is not None})
        if expected:
            await self.registry.tell(ExpectNodes(tuple(expected)))

    def _child_spec(
        self,
        deployment_id: str,
        new: DeploymentRecord | None = None,
        instances: list[InstanceRecord] | None = None,
        placements: list[PlaceInstances] | None = None,
    ) -> ChildSpec:
        """The supervisor of a deployment, restarted from the store. ``new``: the record
        of a deployment just created, used as is for the first start with ``instances``
        (its first ones, stored with it, if any), which saves reading back what was
        just written; that start puts its placement requests in ``placements`` (if
        given) for the caller to send. A restart reads the store and tells the Scheduler
        itself."""
        fresh = [(new, instances or [], placements)] if new is not None else []
        return ChildSpec(
            name=deployment_id,
            factory=functools.partial(self._make_supervisor, deployment_id, fresh),
            shutdown_timeout=5.0,
        )

    def _make_supervisor(
        self,
        deployment_id: str,
        fresh: list[tuple[DeploymentRecord, list[InstanceRecord], list[PlaceInstances] | None]],
    ) -> DeploymentSupervisor:
        new = bool(fresh)
        placements = None
        if fresh:
            record, instances, placements = fresh.pop()
        else:
            found = self.store.get_deployment(deployment_id)
            if found is None:
                raise NotFound(f"deployment {deployment_id!r} is no longer in the store")
            record, instances = found, self.store.list_instances(deployment_id=deployment_id)
        return DeploymentSupervisor(
            record,
            instances,
            store=self.store,
            scheduler=self.scheduler,
            registry=self.registry,
            events=self.events,
            draining=self._draining,
            secrets=self.secrets,
            new=new,
            placements=placements,
        )

    async def receive(self, message: Any) -> Any:
        if isinstance(message, CreateDeployment):
            await creating.queue(self, message)  # answered by the flush that stores it
            return None
        if isinstance(message, FlushCreates):
            await creating.flushed(self)
            return None
        if self.creates.waiting:  # creates that came first are stored first
            await creating.flush(self)
        if isinstance(message, InstancesReported):
            await self._route(message)
            return None
        if isinstance(message, NodeChanged):
            # After the hello that preceded it was applied (see the module docstring).
            node_id = message.view.node_id
            if node_id in self._draining and not message.view.draining:
                try:
                    await self._drain_news(message)  # undrained: supervisors first, asked
                finally:  # even if that failed: else the node would never take work
                    await self.scheduler.tell(message)
            else:
                await self.scheduler.tell(message)
                await self._drain_news(message)
            return None
        if isinstance(message, RestartDue) and await restarting.scheduled(self, message):
            return None
        if isinstance(message, FireRun | RestartDue):
            with contextlib.suppress(KeyError, ActorStopped):  # deleted meanwhile
                await self.child(message.deployment_id).tell(message)
            return None
        if isinstance(message, CreateDeployments):
            batch = await creating.create_batch(self, message)
            return Failed(batch) if isinstance(batch, BatchRefused) else batch
        if isinstance(message, UpdateDeployment | DeleteDeployment):
            return await self._change(message)
        if isinstance(message, PromoteDeployment):
            return await self._promote(message)
        if isinstance(message, RollbackDeployment):
            return await self._rollback(message)
        if isinstance(message, RestartDeployment):
            return await self._restart(message)
        if isinstance(message, EXPERIMENT_MESSAGES):
            try:
                return await experiments.handle(self, message)
            finally:
                self._poke_timetable()  # its processes are deployments
        return await super().receive(message)

    async def _change(
        self, message: UpdateDeployment | DeleteDeployment
    ) -> DeploymentRecord | Failed | None:
        if isinstance(message, UpdateDeployment):
            return await self._update(message)
        return await self._delete(message)

    def poke_timetable_for(self, specs: Iterable[DeploymentSpec]) -> None:
        """Poke the Timetable after a create, change or delete only if a spec involved
        (before or after) has a schedule: a poke makes it read every deployment, so one
        per create or delete made each cost O(deployments)."""
        if any(s.schedule is not None or s.restart_schedule is not None for s in specs):
            self._poke_timetable()

    def _poke_timetable(self) -> None:
        """Tell the Timetable schedules may have changed; never waits (see the module
        docstring)."""
        if self.timetable is not None:
            with contextlib.suppress(MailboxFull, ActorStopped):
                self.timetable.tell_nowait(SchedulesChanged())

    async def _drain_news(self, message: NodeChanged) -> None:
        """Tell every supervisor the nodes being drained, when that set changed; on an
        undrain, wait until those it concerns have acted on it (see the module
        docstring).

        Told to every supervisor (a tell always arrives), then only the supervisors
        with live instances on the node (the only ones with replacements to withdraw)
        are asked :class:`Caught`, all at once and within one bound in total: a slow
        or crash-looping supervisor, or one of a deployment with nothing there, must
        not hold up this actor, which handles no create or hello meanwhile."""
        node_id = message.view.node_id
        if message.view.draining == (node_id in self._draining):
            return
        self._draining = self._draining ^ {node_id}
        news = DrainingChanged(self._draining)
        concerned: set[str] = set()
        if not message.view.draining:
            there = self.store.list_instances(node_id=node_id, states=sorted(LIVE_STATES))
            concerned = {i.deployment_id for i in there}
        asking: list[ActorRef] = []
        for record in self.store.list_deployments():  # each child is named by its id
            with contextlib.suppress(KeyError, ActorStopped):
                child = self.child(record.id)
                await child.tell(news)
                if record.id in concerned:
                    asking.append(child)
        if asking:  # their withdrawals are then queued before the Scheduler's news
            waiting = set(asking)
            with trio.move_on_after(HELLO_APPLY_TIMEOUT):
                async with trio.open_nursery() as nursery:
                    for child in asking:
                        nursery.start_soon(self._caught_up, child, node_id, waiting)
            for child in waiting:
                log.warning("%r did not act on %s's undrain in time", child, node_id)

    async def _caught_up(self, child: ActorRef, node_id: str, waiting: set[ActorRef]) -> None:
        """Wait until ``child`` handled what it was told (the caller bounds it all), then
        take it out of ``waiting``."""
        try:
            await child.ask(Caught(), timeout=math.inf)
        except ActorCrashed as error:  # its supervisor (this actor) restarts it
            log.warning("%r crashed acting on %s's undrain: %s", child, node_id, error)
        except ActorStopped:
            pass  # deleted meanwhile: nothing of it to withdraw
        waiting.discard(child)

    async def _update(self, message: UpdateDeployment) -> DeploymentRecord | Failed:
        record = self.store.get_deployment(message.id_or_name)
        if record is None:
            return Failed(NotFound(f"no deployment {message.id_or_name!r}"))
        try:
            spec = record.spec.patched(dict(message.patch))
        except REFUSALS as error:
            return Failed(error)
        change = ", ".join(sorted(message.patch)) or "nothing"
        return await self.store_change(record, spec, f"changed {change}", message.patch)

    async def store_change(
        self,
        record: DeploymentRecord,
        spec: DeploymentSpec,
        what: str,
        patch: Mapping[str, Any],
        *,
        roll_state: str = ROLLING,
        reason: str | None = None,
        version: int | None = None,
        back_to: int | None = None,
        forget: int | None = None,
        kind: str = "updated",
    ) -> DeploymentRecord | Failed:
        """Store a changed spec (a new version if its template is new: it rolls out, a
        rollback without canaries; ``version``: that new version whatever the template,
        a rolling restart; ``back_to``: that kept version whatever the template, a
        rollback, which may go back to the version a rolling restart copied; ``forget``:
        that kept version is forgotten in the same write) and tell the deployment's
        supervisor."""
        if record.id in self.deleting:
            return Failed(_being_deleted(record))
        restart = version is not None
        try:
            self._check_secrets(spec)  # a rollback too: its secrets may be gone
            if version is None:
                version = back_to if back_to is not None else version_of(self.store, record, spec)
            updated = self.store.update_deployment(
                record.id,
                spec,
                version=version,
                roll_state=roll_state if version else None,
                roll_reason=reason,
                forget=forget,
                keep=None if restart else kept_during(record),
            )
        except REFUSALS as error:
            return Failed(error)
        self.poke_timetable_for((record.spec, spec))
        if version is not None:
            what += f", version {version}"
        self.events.add(updated, kind, f"{what} (generation {updated.generation})")
        # "symphony start" (or a restart) of a failed deployment: it starts afresh.
        starting = restart or patch.get("desired_state") == "running"
        fresh_start = starting and updated.failure is not None
        if fresh_start:
            updated = self.store.set_deployment_failure(record.id, None) or updated
        await self.child(record.id).tell(SpecChanged(updated, fresh_start))
        return updated

    def _check_secrets(self, spec: DeploymentSpec) -> None:
        """Refuse a spec that references a secret that does not exist (a 422)."""
        if self.secrets is not None:
            self.secrets.check_spec(spec)
        elif secret_refs(spec):
            raise SpecError([{"path": "config.env", "message": "this Conductor keeps no secrets"}])

    async def _promote(self, message: PromoteDeployment) -> DeploymentRecord | Failed:
        record = self.store.get_deployment(message.id_or_name)
        if record is None:
            return Failed(NotFound(f"no deployment {message.id_or_name!r}"))
        if record.id in self.deleting:
            return Failed(_being_deleted(record))
        try:
            answer = await self.child(record.id).ask(Promote(), timeout=10)
        except (AskTimeout, ActorStopped, KeyError) as error:
            return Failed(RollConflict(f"deployment {record.name} cannot be promoted now: {error}"))
        return Failed(RollConflict(answer)) if isinstance(answer, str) else answer

    async def _rollback(self, message: RollbackDeployment) -> DeploymentRecord | Failed:
        record = self.store.get_deployment(message.id_or_name)
        if record is None:
            return Failed(NotFound(f"no deployment {message.id_or_name!r}"))
        versions = self.store.list_versions(record.id)
        target = rollback_target(versions, record.version, message.version)
        if isinstance(target, str):
            return Failed(RollConflict(target))
        try:
            spec = rolled_back(record, target)
        except SpecError as error:  # an old template a rule added since refuses: a 422
            return Failed(error)
        what = f"rollback to version {target.version}"
        if (record.roll_reason or "").startswith(RESTART_REASON):
            what += f" (ends the {record.roll_reason})"
        # Without canaries: the version ran before. Named, not found by its template: a
        # rolling restart's version has the template of the one it restarted.
        return await self.store_change(
            record,
            spec,
            what,
            {},
            roll_state=PROMOTED,
            reason=what,
            back_to=target.version,
            forget=restart_copy(record, target),
        )

    async def _restart(self, message: RestartDeployment) -> DeploymentRecord | Failed:
        record = self.store.get_deployment(message.id_or_name)
        if record is None:
            return Failed(NotFound(f"no deployment {message.id_or_name!r}"))
        return await restarting.restart(self, record, "rolling restart requested")

    async def _delete(self, message: DeleteDeployment) -> Failed | None:
        record = self.store.get_deployment(message.id_or_name)
        if record is None:
            return Failed(NotFound(f"no deployment {message.id_or_name!r}"))
        # Marked now, before the next message: a change queued behind is refused.
        teardowns = claim_teardowns(self, (record,))
        if teardowns.mine:
            self.poke_timetable_for((record.spec,))
        # The stops take a while and their confirmations arrive through this very
        # mailbox (node reports are routed here): wait in the background, answer later.
        self.nursery.start_soon(self._teardown, record, teardowns, self.defer_reply())
        return None

    async def _teardown(self, record: DeploymentRecord, teardowns: Teardowns, reply: Reply) -> None:
        """Stop every process group first, then delete (or wait for the DELETE under way)."""
        await tear_down(self, teardowns)
        if teardowns.mine:
            log.info("deployment %s deleted", record.name)
        reply.send(None)

    async def _route(self, report: InstancesReported) -> None:
        by_deployment: dict[str, list[InstanceStatus]] = defaultdict(list)
        for update in report.updates:
            by_deployment[self._owner_of(update)].append(update)
        if report.full:
            # Deployments that believe they run something there must hear the full list
            # even when it holds nothing of theirs.
            there = self.store.list_instances(node_id=report.node_id, states=sorted(LIVE_STATES))
            for inst in there:
                by_deployment.setdefault(inst.deployment_id, [])
        applying: list[tuple[ActorRef, NodeReport, list[InstanceStatus]]] = []
        window = report.window  # each part is settled where it ends (see nodes/window.py)
        for deployment_id, updates in by_deployment.items():
            part = NodeReport(
                report.node_id, tuple(updates), report.full, report.session, window, report.groups
            )
            try:
                child = self.child(deployment_id)
            except KeyError:
                part.settle()
                await self._stop_orphans(report, updates)
                continue
            if report.full:
                applying.append((child, part, updates))
                continue
            try:
                await child.tell(part)  # the supervisor settles it once applied
            except ActorStopped:
                part.settle()
                await self._stop_orphans(report, updates)
        if applying:
            async with trio.open_nursery() as nursery:
                for child, message, updates in applying:
                    nursery.start_soon(self._apply_hello, report, child, message, updates)

    async def _apply_hello(
        self,
        report: InstancesReported,
        child: ActorRef,
        message: NodeReport,
        updates: list[InstanceStatus],
    ) -> None:
        """Hand a supervisor its part of a hello and wait until it has applied it."""
        try:
            await child.ask(message, timeout=HELLO_APPLY_TIMEOUT)
        except AskTimeout:
            log.warning("%r did not apply %s's hello in time", child, report.node_id)
        except ActorCrashed as error:
            # Its supervisor (this actor) restarts it from the store; not our crash.
            log.warning("%r crashed applying %s's hello: %s", child, report.node_id, error)
        except ActorStopped:
            await self._stop_orphans(report, updates)

    def _owner_of(self, update: InstanceStatus) -> str:
        """The deployment an update is about. A node that was told to stop an instance it
        never heard of (the stop overtook the start) cannot know its deployment."""
        with contextlib.suppress(KeyError):
            self.child(update.deployment_id)
            return update.deployment_id
        inst = self.store.get_instance(update.instance_id)
        return inst.deployment_id if inst is not None else update.deployment_id

    async def _stop_orphans(self, report: InstancesReported, updates: list[InstanceStatus]) -> None:
        """A node runs instances of a deployment that no longer exists: stop them."""
        if report.session is None:
            return
        stops = [
            StopInstance(instance_id=u.instance_id, reason="its deployment was deleted")
            for u in updates
            if not is_final_update(u)
        ]
        if stops:
            log.info("stopping %d orphan instance(s) on %s", len(stops), report.node_id)
        # Those that ended there by themselves: nothing is left to record of them.
        stops += forget_ended(u.instance_id for u in updates if ended_by_itself(u))
        # In frames of a bounded size: a node keeps up to 1,000 ended instances.
        await send_batched(report.session, stops)
