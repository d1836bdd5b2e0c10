"""The Deployments actor: creates, changes and deletes deployments; routes node reports.

It is a :class:`~symphony.actors.Supervisor` with one :class:`DeploymentSupervisor`
child per deployment (named by the deployment id), so a crashing deployment is
restarted from the store without disturbing the others. Writes that the API
acknowledges are committed to the store first.

Who waits on whom (the whole graph; each part is told in full where it lives): the API
asks it (create, update, delete); it tells its supervisors (down) and, for instances of
deleted deployments, node sessions. It tells the Scheduler (down) and asks it, bounded,
why a group of creates would wait (``foresight.py``): the Scheduler never waits on it.
Node news reaches it from the NodeRegistry's fan-out, so routing a report to a busy
supervisor delays only this actor, never the registry (``report_routing.py``: a hello is
told to the supervisors concerned, and waited for, bounded, before the Scheduler hears
the node is ready). A node's news goes on to the Scheduler and, when a drain changes, to
every supervisor (``drain_news.py``: an undrain waits, bounded in total, for those
concerned before the Scheduler hears). A change (update, rollback, restart) is stored,
then told to its supervisor; a promote is asked of it, bounded, from a background
task that answers later (``changes.py``, ``restarting.py``). A delete waits for its
supervisor's Teardown in a background task, since the stops' confirmations arrive
through this very mailbox (``teardown.py``). Creates are stored in groups
(``creating.py``), experiments' processes together (``experiments.py``).

A supervisor whose mailbox is full does not hold this actor up: what it is told waits
in the manager's :class:`~.backlog.Backlog`, delivered in order by a background task, a
newer change (or drain, schedule, hello) standing in for the one still waiting, and
bounded (``backlog.py``: only past 256 waiting for one supervisor does a node report, or
a stop or start behind a waiting change, wait for room). So one slow or stuck deployment
delays only itself: the API's requests and the node reports of every other deployment
are handled meanwhile. Nothing
told is lost while the supervisor lives; a change it has not caught up with is in the
store, where a restarted supervisor reads it. A promote of a deployment with something
still waiting is refused (a 409, nothing changed) rather than overtake it.

Schedules: the Timetable tells this actor :class:`FireRun` / :class:`RestartDue`
(down, like the API's requests), routed to the deployment's supervisor (a rolling
restart is stored here first, as a change: ``restarting.py``). After a create,
change or delete of a deployment with a schedule (before or after) it pokes the
Timetable with :class:`SchedulesChanged` through
``tell_nowait``, never waiting on it (a full mailbox drops the poke: the Timetable
re-reads every schedule whenever it handles anything, so pokes coalesce).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterable
from typing import Any

import trio

from symphony.actors import ActorRef, ActorStopped, ChildSpec, MailboxFull, Reply, Supervisor
from symphony.spec import DeploymentSpec
from symphony.wire.states import LIVE_STATES

from ..nodes.model import ExpectNodes, InstancesReported, NodeChanged
from ..secrets import SecretVault
from ..store import DeploymentRecord, InstanceRecord, NotFound, Store
from . import creating, experiments, restarting
from .backlog import Backlog
from .changes import Changes, Failed
from .creating import BatchRefused, CreateQueue, FlushCreates
from .drain_news import DrainNews
from .events import EventLog
from .experiments import EXPERIMENT_MESSAGES
from .foresight import Foresight
from .messages import (
    CreateDeployment,
    CreateDeployments,
    DeleteDeployment,
    FireRun,
    PlaceInstances,
    PromoteDeployment,
    RestartDeployment,
    RestartDue,
    RollbackDeployment,
    SchedulesChanged,
    UpdateDeployment,
)
from .report_routing import ReportRouting
from .supervisor import DeploymentSupervisor
from .teardown import Teardowns, claim_teardowns, tear_down

__all__ = ["Deployments", "Failed"]

log = logging.getLogger("symphony.conductor.deployments")


class Deployments(Changes, ReportRouting, DrainNews, Supervisor):
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
        self.backlog = Backlog()  # what waits for a busy supervisor (see backlog.py)
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
            await self._node_changed(message)  # after the hello before it was applied
            return None
        if isinstance(message, RestartDue) and await restarting.scheduled(self, message):
            return None
        if isinstance(message, FireRun | RestartDue):
            with contextlib.suppress(KeyError, ActorStopped):  # deleted meanwhile
                await self.tell_child(self.child(message.deployment_id), message)
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

    async def tell_child(self, child: ActorRef, message: Any) -> None:
        """Tell one of its supervisors ``message``, never waiting on a busy one: it
        waits in :attr:`backlog` instead (see ``backlog.py``)."""
        await self.backlog.send(self.nursery, child, message)

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
