"""What a DeploymentSupervisor owns, and its bookkeeping: noting events, saving and
pruning instance records, sending commands to nodes, answering a teardown.

The reconciling itself is :class:`~.supervisor.DeploymentSupervisor`, built on this.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from symphony.actors import Actor, ActorRef, Reply
from symphony.wire import Message
from symphony.wire.states import is_live

from ..nodes.model import GetSession
from ..secrets import SecretVault
from ..store import RESTARTS, DeploymentRecord, InstanceRecord, NewEvent, Store
from .commands import send_batched
from .events import EventLog, new_event
from .instances import prunable
from .messages import PlaceInstances
from .outage import CANCELLED
from .retries import Retries
from .roll import RollDriver
from .runs import RunBook

#: Ended instances kept per replica for history (older ones are deleted).
KEEP_ENDED_PER_REPLICA = 3


class SupervisorBase(Actor):
    """One deployment's state and bookkeeping (see the module docstring)."""

    def __init__(
        self,
        record: DeploymentRecord,
        instances: list[InstanceRecord],
        *,
        store: Store,
        scheduler: ActorRef,
        registry: ActorRef,
        events: EventLog,
        draining: frozenset[str] = frozenset(),
        secrets: SecretVault | None = None,
        new: bool = False,
        placements: list[PlaceInstances] | None = None,
    ) -> None:
        """``new``: the deployment was just created, so the store holds nothing more of
        it than ``record`` and ``instances`` (nothing to read back). ``placements``: where
        its start puts its placement requests instead of telling the Scheduler (the
        Deployments manager sends those of the deployments created together as one
        :class:`~.messages.PlaceGroup` once all of them have started)."""
        super().__init__()
        self._new = new
        self._placements = placements
        self.record = record
        self.secrets = secrets  # opened only to build a start (see secret_delivery.py)
        self._draining = draining  # nodes being drained: replicas move off them
        # The node report whose claim the Scheduler did not answer in time: the rest of
        # its claims are left undecided too, without asking (see claims.py).
        self._claims_undecided: object | None = None
        self.instances: dict[str, InstanceRecord] = {i.id: i for i in instances}
        self.store = store
        self.scheduler = scheduler
        self.registry = registry
        self.events = events
        self._retries = Retries()
        self._roll = RollDriver(store)  # a rolling update's timers and progress
        self._avoid = self._retries.avoid  # nodes a replica's next instance avoids
        self._restart_completed = False
        self._deleting = False
        self._teardown: list[Reply] = []
        self._unrecorded: list[NewEvent] = []
        # Replacements being cancelled: deleted once ended (they never ran), so the
        # replica's latest instance stays the one that exited.
        self._cancelled = {i.id for i in instances if is_live(i.state) and i.reason == CANCELLED}
        self._runs = RunBook(store, record.id, [] if new else None)  # a schedule's runs

    # ---- plumbing ------------------------------------------------------------------------------
    def _event(
        self, kind: str, message: str, inst: InstanceRecord | None = None, **data: Any
    ) -> None:
        """Note an event; they are recorded together when the message is handled, or
        with the next instances saved (one transaction: note before you save)."""
        self._unrecorded.append(new_event(self.record, kind, message, inst, **data))

    def _record_events(self) -> None:
        events, self._unrecorded = self._unrecorded, []
        self.events.add_many(events)

    def _save(self, records: list[InstanceRecord], *, restarts: int = 0) -> None:
        """Write ``records`` with the events noted so far in one transaction, and add
        ``restarts`` to the restart counter in it (or in one of its own)."""
        ready = self._to_save(records, restarts)
        if ready is not None:
            self._saved(self.events.add_with_instances(*ready))

    async def _save_together(self, records: list[InstanceRecord], *, restarts: int = 0) -> None:
        """:meth:`_save`, in one transaction with the saves other supervisors make at the
        same moment (a burst's placements and reports wake many at once); returns once
        committed."""
        ready = self._to_save(records, restarts)
        if ready is not None:
            self._saved(await self.events.add_with_instances_together(*ready))

    def _to_save(
        self, records: list[InstanceRecord], restarts: int
    ) -> tuple[list[InstanceRecord], list[NewEvent], dict[str, int] | None] | None:
        """What a save writes: the records (a cancelled replacement that ended is
        deleted instead), the events noted so far and the counters; None if the
        records need no transaction (the restarts were counted already)."""
        gone = [r.id for r in records if r.id in self._cancelled and not is_live(r.state)]
        if gone:
            # A cancelled replacement that ended never ran: forget it rather than keep
            # it as the replica's latest instance (which would ask for another one).
            self._cancelled.difference_update(gone)
            records = [r for r in records if r.id not in gone]
            self.store.delete_instances(gone)
            for instance_id in gone:
                self.instances.pop(instance_id, None)
        if not records:
            self.store.add_to_counter(RESTARTS, restarts)
            return None
        # The events noted so far and the restarts go in the same transaction.
        events, self._unrecorded = self._unrecorded, []
        return records, events, {RESTARTS: restarts} if restarts else None

    def _saved(self, saved: list[InstanceRecord]) -> None:
        for one in saved:
            self.instances[one.id] = one

    def _prune(self) -> None:
        """Forget old ended instances (once per message: it walks every instance)."""
        old = prunable(self.instances.values(), KEEP_ENDED_PER_REPLICA)
        if old:
            self.store.delete_instances(old)
            for instance_id in old:
                del self.instances[instance_id]

    async def _send(self, node_id: str, commands: Sequence[Message]) -> None:
        """Send commands to a node, batched; a node not connected now is skipped (what
        it still runs is reconciled from its next hello)."""
        session = await self.registry.ask(GetSession(node_id))
        if session is not None:
            await send_batched(session, commands)

    def _answer_teardown(self) -> None:
        if self._teardown and not any(is_live(i.state) for i in self.instances.values()):
            for reply in self._teardown:
                reply.send(None)
            self._teardown.clear()
