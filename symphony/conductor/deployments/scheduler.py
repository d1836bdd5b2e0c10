"""The Scheduler actor: places instances on nodes, event by event, never overbooking.

It keeps one :class:`~symphony.conductor.placement.ClusterState` (nodes, readiness,
reservations) and a queue of instances waiting for capacity. Placement runs on events
only, never on a polling timer:

- new instances to place: plan just those (the queue already failed to fit and nothing
  was freed since, so re-planning it would find nothing new); the first placements of
  deployments created together come as one :class:`PlaceGroup`, planned in one pass;
- capacity appeared (a node became ready or was undrained, an instance was released):
  plan the queue. A draining node is kept in the cluster state (its reservations stay)
  but marked so: the placement core gives it nothing new;
- the store refused the last plan's placements: plan the queue again, on the next
  event or when the short backoff that failure set runs out (:class:`RetryPlacements`,
  the one timer, armed only after a store error).

The processes of an experiment are placed as a gang, whole or not at all, once every
process has asked (see :mod:`.gangs`); the queue holds them meanwhile.

A plan reserves capacity before anything starts; its placements are stored (one
transaction per plan, :meth:`~symphony.conductor.store.Store.note_placements`) before
any start goes out; the start commands for one node go out as one batch frame, and
each owner hears :class:`Placed` or :class:`Unplaceable`. Stored first, because the
owner stores the placement only when that news reaches it: a Conductor killed in
between would find the instance pending after its restart and place it again, starting
the job a second time (on another node, whose hello came first) while the first copy
runs. With the placement stored it adopts the instance on its node instead; a save
the owner makes before it hears ``Placed`` (its record still pending on no node) does
not clear the stored placement (the store keeps it; a stop still wins).

Who waits on whom: the Scheduler is asked and told by the layers above it (the API, the
DeploymentSupervisors, node news forwarded by the Deployments manager) and sends *down*
to NodeSessions with blocking tells (a start command must not be dropped). A session's
handler only queues commands for its writer, so such a tell never waits on the node: a
node that stops reading fails its own link (see :mod:`..nodes.session`), never this
actor. What it tells owners flows *up*, so it
never waits on them: :class:`PlacementNews` goes through an
:class:`~symphony.conductor.fanout.LosslessFanout` that coalesces everything pending for an
owner into one message. Bound: per owner, one entry per instance of that owner the
Scheduler knows (placed, withdrawn or latest reason) plus one per lost reservation.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import Any, Protocol

import trio

from symphony.actors import Actor, ActorRef, ActorStopped, Backoff
from symphony.wire import StartInstance

from ..fanout import LosslessFanout
from ..nodes.model import InstancesReported, NodeChanged
from ..placement import (
    ClusterState,
    LedgerError,
    PendingInstance,
    Plan,
    node_tags,
    plan_placements,
    runtime_totals,
)
from ..store import Fenced, PlacementNote, StoreError
from .experiment_placement import ExperimentPlacer
from .messages import (
    AdoptReservation,
    AdoptReservations,
    CapacityUsage,
    ClaimInstance,
    ForeseeReasons,
    LastPlace,
    NotRestarted,
    Placed,
    PlaceGroup,
    PlaceInstances,
    PlacementNews,
    PlacementRequest,
    ReleaseInstances,
    ReservationsLost,
    RetryPlacements,
    SchedulerStats,
    Unplaceable,
    WithdrawInstances,
)

log = logging.getLogger("symphony.conductor.scheduler")

#: Start commands per frame to one node (well under the frame size limit).
START_BATCH = 200

#: What storing a plan's placements may raise and the Scheduler outlives: the store's
#: own errors (a PostgreSQL server gone a moment: ``StoreUnavailable``) and SQLite's
#: "database is locked" (another process holding the write lock past the busy
#: timeout). ``Fenced`` is not among them: a deposed leader must stop placing.
_NOTE_ERRORS = (StoreError, sqlite3.OperationalError)

#: Between attempts to store a plan after a store error: short, since placements wait.
NOTE_RETRY = Backoff(initial=0.1, factor=2.0, max=5.0, jitter=0.1)


class PlacementJournal(Protocol):
    """Where the Scheduler stores placements before their starts go out (the Store)."""

    def note_placements(self, placements: Sequence[PlacementNote]) -> int: ...


class Scheduler(Actor):
    """Places instances; see the module docstring.

    ``journal``: where placements are stored before their starts are sent; None (an
    embedding or a test without a store) sends them with nothing stored first.
    """

    def __init__(self, *, journal: PlacementJournal | None = None) -> None:
        super().__init__()
        self._journal = journal
        self.cluster = ClusterState()
        self._queue: dict[str, tuple[PlacementRequest, ActorRef, float]] = {}
        self._owners: dict[str, ActorRef] = {}
        self._sessions: dict[str, ActorRef] = {}
        # Reservations restored from the store for nodes that have not said hello yet;
        # they are lost with their node like any other.
        self._restored: dict[str, dict[str, tuple[AdoptReservation, ActorRef]]] = {}
        self._lost_nodes: set[str] = set()  # lost and not back: an adoption there is lost
        self._reasons: dict[str, str] = {}
        self.placements_total = 0
        self._news = LosslessFanout(merge=PlacementNews.merged)
        self._experiments = ExperimentPlacer()
        self._network: dict[str, dict[str, Any]] = {}  # planned now: an experiment process's
        self._reconnect: list[str] = []  # planned now: running processes to restart
        self.latencies: list[float] = []  # seconds from request to placement, recent
        self._note_failures = 0  # consecutive plans the store refused; 0: all stored
        self._retry_armed = False  # a RetryPlacements timer is running

    async def receive(self, message: Any) -> Any:
        if isinstance(message, PlaceInstances):
            await self._schedule(self._enqueue(message, time.monotonic()))
        elif isinstance(message, PlaceGroup):
            now = time.monotonic()
            await self._schedule([i for item in message.items for i in self._enqueue(item, now)])
        elif isinstance(message, ForeseeReasons):
            return self._foresee(message.pending)
        elif isinstance(message, ReleaseInstances):
            freed = False
            for instance_id in message.instance_ids:
                self._queue.pop(instance_id, None)
                self._owners.pop(instance_id, None)
                self._reasons.pop(instance_id, None)
                for waiting in self._restored.values():
                    waiting.pop(instance_id, None)
                self._experiments.released(instance_id)
                freed = self.cluster.release(instance_id) is not None or freed
            if freed:
                await self._schedule(None)
        elif isinstance(message, WithdrawInstances):
            self._withdraw(message)
        elif isinstance(message, ClaimInstance):
            return self._claim(message)
        elif isinstance(message, AdoptReservations):
            for item in message.items:
                self._owners[item.instance_id] = message.owner
                self._queue.pop(item.instance_id, None)
                if self.cluster.ledger.has_node(item.node_id):
                    self._adopt(item)
                elif item.node_id in self._lost_nodes:
                    lost = ReservationsLost(item.node_id, (item.instance_id,))
                    self._tell(message.owner, PlacementNews(lost=(lost,)))
                else:
                    self._restored.setdefault(item.node_id, {})[item.instance_id] = (
                        item,
                        message.owner,
                    )
        elif isinstance(message, RetryPlacements):
            self._retry_armed = False
            await self._schedule(None)
        elif isinstance(message, LastPlace):
            self._experiments.recalled(message)
        elif isinstance(message, NotRestarted):
            self._experiments.not_restarted(message.instance_ids)
        elif isinstance(message, NodeChanged):
            await self._node_changed(message)
        elif isinstance(message, InstancesReported):
            pass  # the deployments' business
        elif isinstance(message, CapacityUsage):
            return {n: dict(self.cluster.ledger.used(n)) for n in self.cluster.ledger.node_ids()}
        elif isinstance(message, SchedulerStats):
            return {
                "placements_total": self.placements_total,
                "pending": len(self._queue),
                "latencies": list(self.latencies),
                "news_queued": self._news.queued,
            }
        else:
            raise TypeError(f"Scheduler does not handle {type(message).__name__}")
        return None

    def _enqueue(self, message: PlaceInstances, now: float) -> list[str]:
        """Queue ``message``'s requests (a gang's process also joins its gang); their ids."""
        for request in message.requests:
            if request.pending.gang is not None:
                queued = self._gang_queue(request.pending.gang)
                self._experiments.gangs.arrived(request.pending, queued)
            self._queue[request.pending.instance_id] = (request, message.owner, now)
            self._owners[request.pending.instance_id] = message.owner
            if request.reason is not None:  # what the owner knows: said again only if new
                self._reasons[request.pending.instance_id] = request.reason
        return [r.pending.instance_id for r in message.requests]

    def _foresee(self, pending: tuple[PendingInstance, ...]) -> dict[str, str]:
        """Why each of ``pending`` would wait if it were placed now on its own (a plan
        each, reserving nothing)."""
        reasons = {}
        for inst in pending:
            for unplaced in self.cluster.plan([inst]).unplaced:
                reasons[unplaced.instance_id] = unplaced.reason
        return reasons

    def _withdraw(self, message: WithdrawInstances) -> None:
        withdrawn = []
        for instance_id in message.instance_ids:
            if self.cluster.ledger.reservation(instance_id) is not None:
                continue  # placed already: its Placed is on the way, the owner stops it
            self._queue.pop(instance_id, None)
            self._owners.pop(instance_id, None)
            self._reasons.pop(instance_id, None)
            withdrawn.append(instance_id)  # also when never heard of: nothing to undo
        if withdrawn:
            self._tell(message.owner, PlacementNews(withdrawn=tuple(withdrawn)))

    def _claim(self, message: ClaimInstance) -> bool:
        if trio.current_time() >= message.deadline:
            return False  # its asker gave up and took it as undecided: change nothing
        item = message.item
        held = self.cluster.ledger.reservation(item.instance_id)
        if held is not None:  # placed already: the node's report overtook the news
            return held.node_id == item.node_id
        known = self.cluster.ledger.has_node(item.node_id)
        if not (known and self.cluster.view(item.node_id).ready):
            # A hello being applied: its node is not ready yet (nor perhaps known).
            hello = message.hello_groups
            if hello is None or (message.group is not None and message.group not in hello):
                return False
            if item.node_id in self._lost_nodes:
                return False
            self._owners[item.instance_id] = message.owner
            self._queue.pop(item.instance_id, None)
            restored = self._restored.setdefault(item.node_id, {})
            restored[item.instance_id] = (item, message.owner)  # reserved once it is ready
            return True
        view = self.cluster.view(item.node_id)
        if message.group is not None and message.group not in view.groups:
            return False
        if item.gang is not None:
            return False  # a gang is placed whole: one member alone would overbook it
        if message.pending is not None:
            # What placement would check of this node: not draining, the job's tags
            # (protocol, environment), room. Placement itself decides, on this node alone.
            alone = replace(message.pending, avoid_nodes=frozenset())
            if not plan_placements([view], [alone], self.cluster.protocols).placements:
                return False
        try:
            self.cluster.reserve(item.node_id, item.instance_id, item.amounts)
        except LedgerError:
            return False
        self._experiments.adopted(item)
        self._owners[item.instance_id] = message.owner
        self._queue.pop(item.instance_id, None)
        return True

    def _adopt(self, item: AdoptReservation) -> None:
        if self.cluster.ledger.reservation(item.instance_id) is not None:
            return
        try:
            self.cluster.reserve(item.node_id, item.instance_id, item.amounts)
            self._experiments.adopted(item)
        except LedgerError as error:
            # The node now declares less than it runs: keep the job, say so loudly.
            log.warning("cannot re-reserve %s on %s: %s", item.instance_id, item.node_id, error)

    async def _node_changed(self, event: NodeChanged) -> None:
        view = event.view
        if view.state == "ready":
            self._lost_nodes.discard(view.node_id)
            self.cluster.protocols[view.node_id] = view.protocol_version
            self._experiments.node_seen(view)
            self.cluster.upsert_node(
                view.node_id,
                groups=(*view.groups, *node_tags(view.protocol_version, view.envs)),
                ready=True,
                capacities_total=runtime_totals(view.capacities_total, view.container_runtimes),
                draining=view.draining,
            )
            if event.session is not None:
                self._sessions[view.node_id] = event.session
            for item, _owner in self._restored.pop(view.node_id, {}).values():
                self._adopt(item)
            await self._schedule(None)
        elif view.state == "disconnected":
            self._sessions.pop(view.node_id, None)
            if self.cluster.ledger.has_node(view.node_id):
                self.cluster.set_ready(view.node_id, False)
                self.cluster.set_draining(view.node_id, view.draining)
        elif view.state == "lost":
            self._sessions.pop(view.node_id, None)
            self._lost_nodes.add(view.node_id)
            released = [r.instance_id for r in self.cluster.remove_node(view.node_id)]
            for instance_id in released:
                self._experiments.released(instance_id)
            by_owner: dict[ActorRef, list[str]] = defaultdict(list)
            for instance_id in released:
                owner = self._owners.get(instance_id)
                if owner is not None:
                    by_owner[owner].append(instance_id)
            for instance_id, (_item, owner) in self._restored.pop(view.node_id, {}).items():
                by_owner[owner].append(instance_id)
            for owner, ids in by_owner.items():
                self._tell(owner, PlacementNews(lost=(ReservationsLost(view.node_id, tuple(ids)),)))

    async def _schedule(self, only: list[str] | None) -> None:
        """Plan the given queued instances (None: the whole queue) and act on the plan."""
        if self._note_failures:
            only = None  # a refused plan's requests wait in the queue: plan them too
        ids = list(self._queue) if only is None else [i for i in only if i in self._queue]
        if not ids:
            return
        plan = self._plan(ids)
        if not self._noted(plan):
            return
        starts: dict[str, list[StartInstance]] = defaultdict(list)
        placed: dict[ActorRef, list[Placed]] = defaultdict(list)
        unplaceable: dict[ActorRef, list[Unplaceable]] = defaultdict(list)
        now = time.monotonic()
        for placement in plan.placements:
            request, owner, queued_at = self._queue.pop(placement.instance_id)
            self._reasons.pop(placement.instance_id, None)
            starts[placement.node_id].append(request.start)
            self.placements_total += 1
            self.latencies.append(now - queued_at)
            network = self._network.pop(placement.instance_id, {})
            placed[owner].append(
                Placed(placement.instance_id, placement.node_id, placement.reservation, network)
            )
        del self.latencies[:-1000]
        for unplaced in plan.unplaced:
            if self._reasons.get(unplaced.instance_id) != unplaced.reason:
                self._reasons[unplaced.instance_id] = unplaced.reason
                owner = self._queue[unplaced.instance_id][1]
                unplaceable[owner].append(Unplaceable(unplaced.instance_id, unplaced.reason))
        # Starts go out before the owners hear Placed: a stop an owner sends after
        # Placed then reaches the node after the start it cancels.
        for node_id, commands in starts.items():
            await self._send_starts(node_id, commands)
        reconnect: dict[ActorRef, list[str]] = defaultdict(list)
        for instance_id in self._reconnect:
            if (owner_of := self._owners.get(instance_id)) is not None:
                reconnect[owner_of].append(instance_id)
        self._reconnect.clear()
        for owner in placed.keys() | unplaceable.keys() | reconnect.keys():
            news = PlacementNews(
                placed=tuple(placed.get(owner, ())),
                unplaceable=tuple(unplaceable.get(owner, ())),
                reconnect=tuple(reconnect.get(owner, ())),
            )
            self._tell(owner, news)

    def _noted(self, plan: Plan) -> bool:
        """Store ``plan``'s placements before any start goes out (see the module
        docstring); whether they were stored, so that the plan may go ahead.

        A store error (``Fenced`` aside, which crashes this actor) undoes the plan
        instead: its reservations are released and its requests stay queued, to be
        planned again on the next event or after a short backoff. Crashing here would
        restart, under the tree's ``rest_for_one``, everything started after the
        Scheduler (every node's link with it) for a database blip.
        """
        if self._journal is None or not plan.placements:
            self._note_failures = 0  # the whole queue was planned (see _schedule)
            return True
        notes = [
            PlacementNote(
                p.instance_id, p.node_id, p.reservation, self._network.get(p.instance_id, {})
            )
            for p in plan.placements
        ]
        try:
            noted = self._journal.note_placements(notes)
        except Fenced:
            raise
        except _NOTE_ERRORS as error:
            for p in plan.placements:
                self.cluster.release(p.instance_id)
                self._experiments.released(p.instance_id)
                self._network.pop(p.instance_id, None)
            delay = NOTE_RETRY.delay(self._note_failures)
            self._note_failures += 1
            log.warning(
                "could not store %d placement(s), nothing sent; planning again in %.1f s: %s",
                len(notes),
                delay,
                error,
            )
            if not self._retry_armed:
                self._retry_armed = True
                self.nursery.start_soon(self._retry_after, delay)
            return False
        self._note_failures = 0
        if noted < len(notes):
            # The others' supervisors moved on meanwhile (a stop, or their own save of
            # the placement): the starts still go out, and the owners sort them out.
            log.debug("stored %d of %d placement(s)", noted, len(notes))
        return True

    async def _retry_after(self, delay: float) -> None:
        await trio.sleep(delay)
        with contextlib.suppress(ActorStopped):  # stopping: its restart plans afresh
            await self.ref.tell(RetryPlacements())

    def _gang_queue(self, gang: str) -> list[PendingInstance]:
        return [r.pending for r, _, _ in self._queue.values() if r.pending.gang == gang]

    def _plan(self, ids: list[str]) -> Plan:
        """Plan lone instances one by one, and each gang touched by ``ids`` as a whole."""
        solo = [self._queue[i][0].pending for i in ids if self._queue[i][0].pending.gang is None]
        plan = self.cluster.schedule(solo) if solo else Plan()
        placements, unplaced = list(plan.placements), list(plan.unplaced)
        gangs = {self._queue[i][0].pending.gang for i in ids} - {None}
        for gang in sorted(g for g in gangs if g is not None):
            requests = [r for r, _, _ in self._queue.values() if r.pending.gang == gang]
            outcome = self._experiments.plan(self.cluster, gang, requests)
            for instance_id, start in outcome.starts.items():
                request, owner, queued_at = self._queue[instance_id]
                self._queue[instance_id] = (replace(request, start=start), owner, queued_at)
            self._network.update(outcome.network)
            self._reconnect += outcome.reconnect
            placements += outcome.plan.placements
            unplaced += outcome.plan.unplaced
        return Plan(tuple(placements), tuple(unplaced))

    async def _send_starts(self, node_id: str, commands: list[StartInstance]) -> None:
        session = self._sessions.get(node_id)
        if session is None:
            # The node went away between planning and sending; its owners resend the
            # starts when it reconnects (an assigned instance missing from its hello).
            log.warning("no session for %s: %d start(s) deferred", node_id, len(commands))
            return
        for i in range(0, len(commands), START_BATCH):
            chunk = commands[i : i + START_BATCH]
            try:
                await session.tell(chunk if len(chunk) > 1 else chunk[0])
            except ActorStopped:
                # The link ended meanwhile: as above, the owners resend on reconnect.
                log.debug("%r is gone; dropped %d start(s)", session, len(chunk))

    def _tell(self, owner: ActorRef, news: PlacementNews) -> None:
        """Tell an owner without waiting (an owner also sends to us: never block on it)."""
        self._news.send(self.nursery, owner, news)
