"""How the NodeRegistry applies heartbeats (a mixin of it).

Heartbeats arrive in batches through a :class:`~.beats.HeartbeatInbox` (one wake-up of
the registry for many heartbeats); a version-5 node's heartbeat *deltas* (only the usage
that changed) are merged into the usage held for its link. A delta that cannot be applied
(before any full heartbeat on the link, or too many keys) is refused: its usage is
dropped and logged, the heartbeat still counts for liveness, and the link stays up.

A heartbeat from a node's current session moves its deadline (see ``liveness.py``),
records its usage and its instances' for the charts (``usage.py``), and tells the
subscribers when the node's named environments changed (placement must know: a job
waiting for one may fit now). One from a stale session is its last words: ignored.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import trio

from symphony.wire.usagedelta import DeltaRefused, grown_size, merge_usage, usage_size

from .beats import BATCH_SEC
from .model import NodeChanged

if TYPE_CHECKING:
    from symphony.actors import ActorRef

    from .beats import HeartbeatInbox
    from .model import InstancesReported, NodeHeartbeat
    from .record import NodeRecord
    from .usage import UsageHistory

log = logging.getLogger("symphony.conductor.nodes")


@dataclass(frozen=True, slots=True)
class _BeatsWaiting:
    """From the registry's own task: heartbeats wait in the inbox."""


class HeartbeatHandling:
    """The heartbeats of :class:`~.registry.NodeRegistry` (see the module docstring)."""

    if TYPE_CHECKING:  # provided by NodeRegistry
        beats: HeartbeatInbox
        usage: UsageHistory
        _nodes: dict[str, NodeRecord]

        @property
        def ref(self) -> ActorRef: ...
        def timeout_for(self, heartbeat_sec: float) -> float: ...
        def _publish(self, event: InstancesReported | NodeChanged) -> None: ...

    def _heartbeat(self, msg: NodeHeartbeat) -> None:
        node = self._nodes.get(msg.node_id)
        if node is None or node.session != msg.session or node.state != "ready":
            return  # a stale session's last words
        now = time.time()
        usage = self._usage_of(node, msg)
        node.beat(usage, now)
        node.deadline = trio.current_time() + self.timeout_for(node.fixed.heartbeat_sec)
        self.usage.record_node(msg.node_id, usage, now=now)
        if msg.heartbeat.instances is not None:
            self.usage.record_instances(msg.node_id, msg.heartbeat.instances, now=now)
        envs = msg.heartbeat.envs
        if envs is not None and tuple(envs) != node.fixed.envs:
            # An environment appeared or went away: placement must know (a job waiting
            # for it may fit now).
            node.view = replace(node.view, envs=tuple(envs))
            self._publish(NodeChanged(node.view, "ready", node.session))

    def _usage_of(self, node: NodeRecord, msg: NodeHeartbeat) -> dict[str, Any]:
        """The node's usage after this heartbeat: a full one as sent, a delta merged into
        what the link said before (a delta that cannot be applied keeps that as is)."""
        beat = msg.heartbeat
        try:
            if not beat.delta:
                node.usage_bytes = usage_size(beat.usage)
                node.has_usage = True
                return beat.usage
            merged = merge_usage(node.usage if node.has_usage else None, beat.usage)
            node.usage_bytes = grown_size(merged, beat.usage, node.usage_bytes)
            return merged
        except DeltaRefused as refused:
            log.warning("node %r: heartbeat usage refused: %s", msg.node_id, refused)
            return node.usage

    def _apply_beats(self) -> None:
        for beat in self.beats.take():
            self._heartbeat(beat)

    async def _beats_waiting(self) -> None:
        """Background: once heartbeats wait, let a batch gather, then have them applied."""
        while True:
            await self.beats.wait()
            await trio.sleep(BATCH_SEC)
            await self.ref.tell(_BeatsWaiting())
