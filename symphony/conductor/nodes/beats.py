"""HeartbeatInbox: heartbeats on their way from the sessions to the registry, in batches.

With thousands of nodes, heartbeats are most of what the Conductor reads. Sent one by one
into the registry's mailbox, each would wake the registry's task and pass through its
mailbox: a task hop per heartbeat. Instead a session *puts* each heartbeat here (a dict
insert, never blocking) and the registry takes them all at once, at most
:data:`BATCH_SEC` after the first one arrived: a few wake-ups a second whatever the size
of the fleet.

Overflow policy: *coalesce*. The inbox holds at most one heartbeat per node: a newer one
of the same session replaces the one waiting (a delta is merged into it, so nothing it
said is lost); one of another session replaces it outright (the registry drops a stale
session's heartbeat anyway). The inbox is therefore bounded by the number of nodes.

The inbox outlives a restart of the registry actor (the Conductor creates it and hands it
to both the registry and the gateway), so the sessions of a link keep the same one.
"""

from __future__ import annotations

from dataclasses import replace

import trio

from .model import NodeHeartbeat

__all__ = ["BATCH_SEC", "HeartbeatInbox"]

#: How long the first heartbeat of a batch may wait for the registry (liveness deadlines
#: are seconds long; usage charts have 10 s buckets).
BATCH_SEC = 0.25


class HeartbeatInbox:
    """Heartbeats waiting for the registry, at most one per node (see the module doc)."""

    def __init__(self) -> None:
        self._waiting: dict[str, NodeHeartbeat] = {}
        self._arrived = trio.Event()

    def __len__(self) -> int:
        return len(self._waiting)

    def put(self, beat: NodeHeartbeat) -> None:
        """Queue ``beat`` (never blocks; see the overflow policy above)."""
        queued = self._waiting.get(beat.node_id)
        if queued is not None and queued.session == beat.session:
            beat = _combine(queued, beat)
        self._waiting[beat.node_id] = beat
        self._arrived.set()

    def take(self) -> list[NodeHeartbeat]:
        """Every heartbeat waiting, in arrival order of their nodes; the inbox is empty after."""
        taken, self._waiting = list(self._waiting.values()), {}
        self._arrived = trio.Event()
        return taken

    async def wait(self) -> None:
        """Return once at least one heartbeat waits."""
        while not self._waiting:
            await self._arrived.wait()


def _combine(queued: NodeHeartbeat, new: NodeHeartbeat) -> NodeHeartbeat:
    """One heartbeat that says what ``queued`` and then ``new`` said."""
    old, beat = queued.heartbeat, new.heartbeat
    if beat.delta:
        # The delta applies on top of what waits; the result is full if that was.
        beat = replace(beat, usage={**old.usage, **beat.usage}, delta=old.delta)
    if beat.instances is None and old.instances is not None:
        beat = replace(beat, instances=old.instances)
    if beat.envs is None and old.envs is not None:
        beat = replace(beat, envs=old.envs)
    return replace(new, heartbeat=beat)
