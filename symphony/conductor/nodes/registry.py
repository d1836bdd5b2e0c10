"""The NodeRegistry actor: the one owner of every node's state.

States of a node, as the Conductor sees it::

    (hello accepted) -> ready --link closed--> disconnected --timeout--> lost
                          ^  \\--no heartbeat for node_timeout (a frozen node)--> lost
                          \\------------------- hello again -------------------/

After a Conductor restart, the nodes the store says run instances are told by the
Deployments manager (:class:`ExpectNodes`) and held as ``disconnected`` from the
registry's start: one that never says hello again is declared lost at its timeout, and
its instances are replaced, as if the Conductor had seen it leave. Such a node (and a
node id first claimed by another incarnation after the restart, see ``fencing.py``) has
at least :data:`RESTART_GRACE_SEC` from the registry's start: its agent was failing to
connect while the Conductor was down, and its reconnect backoff (capped at 30 s, plus
jitter) must not make it lost with a short node timeout - a Conductor restart restarts
no job.

A node that goes quiet is declared lost by a sweep (``liveness.py``: its timeout,
its alarm, and how a strained Conductor does not blame its nodes for its own slowness);
heartbeats are applied by ``heartbeat_handling.py`` (batches, usage, deltas).

Draining (``drains.py``) is apart from these states: :class:`SetDraining` marks a node,
durably, and its views say ``draining`` whatever its state; subscribers hear of a change
as a :class:`NodeChanged` whose state did not change. A node drained before a restart
that has not said hello again is held as ``disconnected``, like an expected one, so it
can be seen and undrained.

Subscribers (in the Conductor, the Deployments manager, which forwards node changes to
the Scheduler once a hello was applied) are told :class:`NodeChanged` on
every state change and :class:`InstancesReported` for what nodes run, so they react to
events, never timers. They also send *down* to the registry (a DeploymentSupervisor asks
it for sessions), so the registry never waits on them: it sends through an
:class:`~symphony.conductor.fanout.LosslessFanout`, in order per subscriber, merging consecutive
status reports of one session into one message. Overflow: nothing is dropped; what
waits is counted (``fanout.queued``) and bounded per link: a link's reader waits while
:data:`~symphony.conductor.nodes.window.STATUS_WINDOW` of its updates are on their way,
until the deployments have applied them (``window.py``), so a node that floods
statuses is read at the pace they are applied, not at the registry's.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import replace
from typing import Any

import trio

from symphony.actors import Actor, ActorRef
from symphony.wire import PROTOCOL_VERSION, Hello
from symphony.wire.usagedelta import encoded_size

from ..fanout import LosslessFanout
from .beats import HeartbeatInbox
from .drains import DrainBook, MemoryDrains
from .fencing import IncarnationBook, MemoryIncarnations, is_other_incarnation
from .fencing import refusal as fencing_refusal
from .heartbeat_handling import HeartbeatHandling, _BeatsWaiting
from .liveness import STALL_SEC, LivenessSweep, _SweepDue, liveness_timeout
from .model import (
    ExpectNodes,
    GetSession,
    InstancesReported,
    ListNodes,
    NodeChanged,
    NodeHeartbeat,
    NodeState,
    NodeStatuses,
    NodeView,
    RegisterNode,
    SessionEnded,
    SetDraining,
)
from .record import NodeRecord
from .usage import GetCurrentUsage, GetInstanceUsage, GetNodeUsage, UsageHistory

log = logging.getLogger("symphony.conductor.nodes")

__all__ = [
    "MAX_RESOURCES_BYTES",
    "RESTART_GRACE_SEC",
    "STALL_SEC",
    "NodeRegistry",
    "liveness_timeout",
]


#: The most bytes (encoded) of a hello's ``resources`` kept (a real node's: ~1-4 KiB).
MAX_RESOURCES_BYTES = 64 * 1024
#: The least time a node not seen since the registry started has to say hello.
RESTART_GRACE_SEC = 40.0


def _merge_reports(queued: Any, new: Any) -> Any | None:
    """One status report for two consecutive ones of the same session, else None."""
    if (
        isinstance(queued, InstancesReported)
        and isinstance(new, InstancesReported)
        and not queued.full
        and not new.full
        and queued.node_id == new.node_id
        and queued.session == new.session
        and queued.window is new.window
    ):
        return replace(queued, updates=queued.updates + new.updates)
    return None


class NodeRegistry(HeartbeatHandling, LivenessSweep, Actor):
    """Tracks nodes; see the module docstring for the state machine.

    Args:
        node_timeout_sec: fixed timeout for every node, or None for 5 x its heartbeat.
        subscribers: refs told :class:`NodeChanged` and :class:`InstancesReported`.
        incarnations: where accepted incarnation tokens are kept (the Store, so they
            survive a restart); in memory when None.
        default_heartbeat_sec: the heartbeat assumed for a node expected from the store
            (:class:`ExpectNodes`) until its hello says otherwise.
        restart_grace_sec: the least time a node not seen since this registry started
            has to say hello before it is lost (see the module docstring).
        drains: where the nodes being drained are kept (the Store, so a restart keeps
            them); in memory when None.
        beats: where sessions put heartbeats (shared with the gateway); a fresh one when
            None.
    """

    def __init__(
        self,
        *,
        node_timeout_sec: float | None = None,
        subscribers: tuple[ActorRef, ...] = (),
        incarnations: IncarnationBook | None = None,
        default_heartbeat_sec: float = 3.0,
        restart_grace_sec: float = RESTART_GRACE_SEC,
        drains: DrainBook | None = None,
        beats: HeartbeatInbox | None = None,
    ) -> None:
        super().__init__()
        self.beats = beats if beats is not None else HeartbeatInbox()
        self.drains = drains if drains is not None else MemoryDrains()
        self._draining = set(self.drains.draining_nodes())
        self.restart_grace_sec = restart_grace_sec
        self.default_heartbeat_sec = default_heartbeat_sec
        self.node_timeout_sec = node_timeout_sec
        self.subscribers = list(subscribers)
        self.incarnations = incarnations if incarnations is not None else MemoryIncarnations()
        self._started_at = 0.0
        self._strain_grace = -math.inf  # until when a dropped link may take to return
        self._nodes: dict[str, NodeRecord] = {}
        self.fanout = LosslessFanout(merge=_merge_reports)
        self._alarm_moved = trio.Event()  # set (and replaced) whenever _sweep_at changes
        self._sweep_at = math.inf  # when the timer tells us to sweep
        self.usage = UsageHistory()  # the last hour, for charts (see usage.py)

    def timeout_for(self, heartbeat_sec: float) -> float:
        """How long a node may stay quiet (or disconnected) before it is lost."""
        return liveness_timeout(self.node_timeout_sec, heartbeat_sec)

    async def on_start(self) -> None:
        self._started_at = trio.current_time()
        self.nursery.start_soon(self._timer)
        self.nursery.start_soon(self._beats_waiting)
        for node_id in sorted(self._draining):  # drained before a restart: keep showing it
            self._hold(node_id, (), {}, False, self.default_heartbeat_sec)

    async def receive(self, message: Any) -> Any:
        if isinstance(message, _SweepDue):
            return self._sweep(message.due_at)
        if isinstance(message, _BeatsWaiting):
            return self._apply_beats()
        if isinstance(message, NodeHeartbeat):
            return self._heartbeat(message)
        if isinstance(message, NodeStatuses):
            node = self._nodes.get(message.node_id)
            if node is not None and node.session == message.session:
                report = InstancesReported(
                    message.node_id, message.updates, False, node.session, message.window
                )
                self._publish(report)
            elif message.window is not None:
                message.window.settled(len(message.updates))  # a stale session's: dropped
            return None
        if isinstance(message, RegisterNode):
            return await self._register(message)
        if isinstance(message, SessionEnded):
            return self._session_ended(message)
        if isinstance(message, ExpectNodes):
            for node_id in message.node_ids:
                if node_id not in self._nodes:  # grace from now: the Conductor is ready
                    self._hold(node_id, (), {}, False, self.default_heartbeat_sec, ready=True)
            return None
        if isinstance(message, ListNodes):
            return [self._nodes[n].view for n in sorted(self._nodes)]
        if isinstance(message, GetNodeUsage | GetInstanceUsage | GetCurrentUsage):
            return self._usage_query(message)
        if isinstance(message, SetDraining):
            return self._set_draining(message)
        if isinstance(message, GetSession):
            node = self._nodes.get(message.node_id)
            return node.session if node is not None and node.state == "ready" else None
        raise TypeError(f"NodeRegistry does not handle {type(message).__name__}")

    async def _register(self, msg: RegisterNode) -> str | None:
        hello = msg.hello
        existing = self._nodes.get(hello.node_id)
        if existing is not None and existing.state == "ready":
            return (
                f"node id {hello.node_id!r} is already connected from {existing.view.remote}; "
                "a second connection with the same id is refused"
            )
        fenced = self._fence(msg, existing)
        if fenced is not None:
            return fenced
        existing = self._nodes.get(hello.node_id)  # _fence may have declared it lost
        previous: NodeState | None = existing.state if existing else None
        view = NodeView(
            node_id=hello.node_id,
            state="ready",
            groups=tuple(hello.groups),
            capacities_total=dict(hello.capacities_total),
            resources=self._resources_of(hello),
            usage={},
            last_heartbeat=time.time(),
            connected_at=time.time(),
            remote=msg.remote,
            shared_certificate=msg.shared_certificate,
            heartbeat_sec=msg.heartbeat_sec,
            capacities_used=existing.view.capacities_used if existing else {},
            draining=hello.node_id in self._draining,
            protocol_version=min(PROTOCOL_VERSION, hello.protocol_version),
            envs=tuple(hello.envs or ()),
            container_runtimes=tuple(hello.container_runtimes),
        )
        deadline = trio.current_time() + self.timeout_for(msg.heartbeat_sec)
        incarnation = hello.incarnation or (existing.incarnation if existing else None)
        self._nodes[hello.node_id] = NodeRecord(view, msg.session, deadline, incarnation)
        if hello.incarnation is not None and hello.incarnation != self._known(hello.node_id):
            self.incarnations.set_node_incarnation(hello.node_id, hello.incarnation)
        log.info(
            "node %r ready (%s; groups %s; capacities %s)%s",
            hello.node_id,
            msg.remote,
            list(view.groups),
            view.capacities_total,
            f", was {previous}" if previous else "",
        )
        self._wake_sweep(deadline)
        # What the node runs goes out before "ready": owners reconcile (and stop stale
        # copies) before the scheduler considers the node for new work.
        self._publish(
            InstancesReported(
                hello.node_id, tuple(hello.instances), True, msg.session, groups=view.groups
            )
        )
        self._publish(NodeChanged(view, previous, msg.session))
        return None

    def _resources_of(self, hello: Hello) -> dict[str, Any]:
        """What the node says of its machine, unless it is past any real node's (then
        nothing: it is only shown, and kept as long as the node is listed)."""
        size = encoded_size(hello.resources)
        if size <= MAX_RESOURCES_BYTES:
            return dict(hello.resources)
        log.warning("node %r: hello resources of %d bytes not kept", hello.node_id, size)
        return {}

    def _known(self, node_id: str) -> str | None:
        return self.incarnations.get_node_incarnation(node_id)

    def _fence(self, msg: RegisterNode, existing: NodeRecord | None) -> str | None:
        """Refuse a new incarnation until the previous one's node timeout has passed.

        Returns the refusal, or None to go on (after declaring the previous incarnation
        lost, if its deadline has passed but the sweep has not got to it yet).
        """
        node_id = msg.hello.node_id
        known = existing.incarnation if existing else self._known(node_id)
        if not is_other_incarnation(msg.hello.incarnation, known):
            return None
        if existing is None:
            # Not seen since this registry started: the previous incarnation may have
            # been cut off by the restart and may still come back.
            hello = msg.hello
            existing = self._hold(
                node_id,
                tuple(hello.groups),
                dict(hello.capacities_total),
                msg.shared_certificate,
                msg.heartbeat_sec,
            )
        if existing.state == "lost":
            return None
        wait = existing.deadline - trio.current_time()
        if wait > 0:
            self._wake_sweep(existing.deadline)
            log.warning("node %r: refused a new incarnation for %.1f s", node_id, wait)
            return fencing_refusal(node_id, wait)
        self._declare_lost(existing)
        return None

    def _hold(
        self,
        node_id: str,
        groups: tuple[str, ...],
        capacities: dict[str, int],
        shared: bool,
        heartbeat_sec: float,
        *,
        ready: bool = False,
    ) -> NodeRecord:
        """Hold a node not seen since this registry started as if it had disconnected
        then: it is lost unless it says hello within its timeout from our start (from
        now when ``ready``: the Conductor has just finished starting)."""
        view = NodeView(
            node_id=node_id,
            state="disconnected",
            groups=groups,
            capacities_total=capacities,
            resources={},
            usage={},
            last_heartbeat=None,
            connected_at=None,
            remote=None,
            shared_certificate=shared,
            heartbeat_sec=heartbeat_sec,
            draining=node_id in self._draining,
        )
        grace = max(self.timeout_for(heartbeat_sec), self.restart_grace_sec)
        deadline = (trio.current_time() if ready else self._started_at) + grace
        node = self._nodes[node_id] = NodeRecord(view, None, deadline, self._known(node_id))
        self._publish(NodeChanged(view, None))
        self._wake_sweep(deadline)
        return node

    def _set_draining(self, msg: SetDraining) -> NodeView | None:
        """Mark or unmark a known node (persisted first); tell subscribers of a change."""
        node = self._nodes.get(msg.node_id)
        if node is None:
            return None
        self.drains.set_node_draining(msg.node_id, msg.draining)
        if msg.draining == node.view.draining:
            return node.view  # nothing changes: asking twice is fine
        if msg.draining:
            self._draining.add(msg.node_id)
        else:
            self._draining.discard(msg.node_id)
        node.view = replace(node.view, draining=msg.draining)
        log.warning("node %r %s", msg.node_id, "draining" if msg.draining else "undrained")
        session = node.session if node.state == "ready" else None
        self._publish(NodeChanged(node.view, node.state, session))
        return node.view

    def _usage_query(self, msg: GetNodeUsage | GetInstanceUsage | GetCurrentUsage) -> Any:
        now = time.time()
        if isinstance(msg, GetNodeUsage):
            known = msg.node_id in self._nodes
            return self.usage.node_buckets(msg.node_id, now=now) if known else None
        if isinstance(msg, GetInstanceUsage):
            found = {i: self.usage.instance(i, now=now) for i in msg.instance_ids}
            return {i: history for i, history in found.items() if history is not None}
        return self.usage.current()

    def _session_ended(self, msg: SessionEnded) -> None:
        node = self._nodes.get(msg.node_id)
        if node is None or node.session != msg.session:
            return
        node.session = None
        node.has_usage = False
        if node.state == "ready":
            self._set_state(node, "disconnected", msg.reason)
            node.deadline = trio.current_time() + self.timeout_for(node.view.heartbeat_sec)
            self._wake_sweep(node.deadline)

    def _set_state(self, node: NodeRecord, state: NodeState, reason: str) -> None:
        previous = node.state
        node.view = replace(node.view, state=state)
        log.warning("node %r %s -> %s: %s", node.view.node_id, previous, state, reason)
        self._publish(NodeChanged(node.view, previous))

    def _publish(self, event: InstancesReported | NodeChanged) -> None:
        """Tell every subscriber, never waiting (see the module docstring)."""
        for subscriber in self.subscribers:
            self.fanout.send(self.nursery, subscriber, event)
