"""What ``GET /live`` sends (:mod:`.routes_live`): the Conductor's changes as Server-Sent Events.

One ``snapshot`` first (every node and deployment, so a client needs nothing else), then
only changes, each an SSE message ``event: <type>`` / ``data: <one JSON line>``:

==============  ===============================================================
``snapshot``    ``{"now", "nodes": [...], "deployments": [...]}`` (once, first)
``event``       ``{"event": {...}}``: a deployment event, the moment it is recorded
``deployment``  ``{"deployment": {...}}``: a deployment whose state or instances changed
``removed``     ``{"id"}``: a deployment that no longer exists
``node``        ``{"now", "node": {...}}``: a node whose state, groups, capacities or
                load changed (load at most every :data:`USAGE_PERIOD`)
``closing``     ``{"reason"}``: last, from a Conductor that stops leading (written by
                :mod:`.stepdown`, which ends the stream)
==============  ===============================================================

Deployment events come from the :class:`EventLog` feed and trigger an immediate re-read
of that one deployment. A server-side sweep every :data:`POLL_PERIOD` catches what has
no event (a pid, a heartbeat, a deleted deployment); it compares fingerprints and sends
only what differs, never a full snapshot again. Every stream sweeps the same shared
:class:`~.snapshots.Snapshot` (at most one read of the store per period, in a worker
thread), however many clients there are. ``now`` is the Conductor's
clock, so a browser can show heartbeat ages without trusting its own clock.

``?view=summary`` sends each deployment without its ``spec`` (the fields of ``GET
/deployments?view=summary``, from the same shared texts): the web UI holds every
deployment but shows a spec only on one deployment's page, which reads it then. The
``generation`` of a summary moves with every change of the spec, so a client knows when
to read it again.

The token is the usual ``Authorization: Bearer`` header: the UI reads this stream with
``fetch()`` (``EventSource`` cannot send headers). The stream has no response timeout
and ends when the server shuts down.
"""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator, Iterable, Mapping
from typing import Any

import trio

from ..deployments import CapacityUsage
from ..nodes.model import ListNodes
from ..store import DeploymentRecord, EventRecord, InstanceRecord
from .context import ApiContext
from .gpu_view import holders_of
from .jsonout import json_compact
from .routes_nodes import node_json
from .snapshots import Fingerprint, Snapshot, SnapshotCache, View, fingerprint
from .sse import sse, sse_raw
from .views import deployment_json

#: How often the sweep looks for changes that come with no event (and at nodes).
POLL_PERIOD = 1.0
#: A node whose only change is its load (CPU, RAM, heartbeat) is re-sent at most this often.
USAGE_PERIOD = 2.0
#: A quiet stream sends an SSE comment this often, so proxies and clients see it alive.
KEEPALIVE_PERIOD = 15.0
#: The longest wait between checks of the shutdown flag.
CLOSING_CHECK = 0.25
#: Events buffered for a slow client; past that it misses some (the sweep still fixes
#: the deployments' state, and the UI re-reads a timeline when ids jump).
EVENT_BUFFER = 1000

#: Node fields that change with every heartbeat.
_LOAD_FIELDS = ("usage", "last_heartbeat")


class LiveState:
    """What one client was sent last, and the difference to what is true now.

    Pure bookkeeping (no I/O), so the rules are testable without a Conductor. Each
    deployment sent is noted with the store version it was read at: a shared sweep
    snapshot older than a deployment's own re-read (after an event) must not send the
    older state again, nor report the deployment removed.
    """

    def __init__(self) -> None:
        self._deployments: dict[str, Fingerprint] = {}
        self._versions: dict[str, int] = {}  # also of forgotten ones, until a sweep agrees
        self._seq: int | None = None  # of the last snapshot swept
        self._recheck: set[str] = set()  # skipped by the last sweep: look again
        self._nodes: dict[str, dict[str, Any]] = {}
        self._node_sent_at: dict[str, float] = {}

    def deployment_changed(
        self, record: DeploymentRecord, instances: list[InstanceRecord], *, version: int = 0
    ) -> dict[str, Any] | None:
        """The deployment's JSON if it differs from what was sent, else None."""
        if not self.mark_changed(record.id, fingerprint(record, instances), version=version):
            return None
        return deployment_json(record, instances)

    def mark_changed(self, deployment_id: str, mark: Fingerprint, *, version: int) -> bool:
        """Whether a deployment read at ``version`` differs from what was sent (if so,
        it is remembered as sent)."""
        self._versions[deployment_id] = max(version, self._versions.get(deployment_id, version))
        if self._deployments.get(deployment_id) == mark:
            return False
        self._deployments[deployment_id] = mark
        return True

    def sweep(self, snapshot: Snapshot) -> tuple[list[DeploymentRecord], list[str]]:
        """``(deployments changed, ids gone)`` by ``snapshot``, which is shared.

        Only deployments that changed since the snapshot this client swept last are
        compared (the snapshot knows which), so a sweep costs the changes, not the
        deployments. What is skipped for being older than this client's own re-read
        is looked at again in the next sweep.
        """
        since = snapshot.changed_since(self._seq)
        self._seq = snapshot.seq
        if since is None:
            candidates = snapshot.records
        else:
            candidates = snapshot.records_of(since | self._recheck)
        self._recheck = set()
        changed = []
        for record in candidates:
            if self._versions.get(record.id, -1) > snapshot.version:
                self._recheck.add(record.id)  # this client has seen it fresher
                continue
            self._versions[record.id] = snapshot.version
            mark = snapshot.fingerprints[record.id]
            if self._deployments.get(record.id) != mark:
                self._deployments[record.id] = mark
                changed.append(record)
        return changed, self.removed(snapshot.fingerprints, version=snapshot.version)

    def removed(self, existing: Iterable[str], *, version: int | None = None) -> list[str]:
        """Ids sent before that are gone now (they are forgotten).

        With ``version`` (that of the read that found ``existing``), a deployment this
        client read at a later version is left alone until the next sweep.
        """
        present = existing if isinstance(existing, Mapping) else set(existing)
        gone = []
        for deployment_id in self._versions.keys() - present:  # a set operation, in C
            if version is not None and self._versions[deployment_id] > version:
                self._recheck.add(deployment_id)
                continue
            del self._versions[deployment_id]
            if self._deployments.pop(deployment_id, None) is not None:
                gone.append(deployment_id)
        return sorted(gone)

    def forget_deployment(self, deployment_id: str, *, version: int = 0) -> bool:
        """Forget one deployment (found gone at ``version``); True if it had been sent."""
        self._versions[deployment_id] = max(version, self._versions.get(deployment_id, version))
        return self._deployments.pop(deployment_id, None) is not None

    def node_changed(self, node: dict[str, Any], now: float) -> bool:
        """Whether ``node`` should be sent now (and if so, remember it as sent).

        A change of state, groups or capacities goes out at once; a change of load only
        when the node was last sent :data:`USAGE_PERIOD` ago or more.
        """
        node_id = node["node_id"]
        before = self._nodes.get(node_id)
        if before == node:
            return False
        only_load = before is not None and _without_load(before) == _without_load(node)
        if only_load and now - self._node_sent_at.get(node_id, 0.0) < USAGE_PERIOD:
            return False
        self._nodes[node_id] = node
        self._node_sent_at[node_id] = now
        return True


def _without_load(node: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in node.items() if k not in _LOAD_FIELDS}


async def current_nodes(ctx: ApiContext) -> list[dict[str, Any]]:
    """Every node as ``GET /nodes`` shows it."""
    views = await ctx.registry.ask(ListNodes(), timeout=5)
    used = await ctx.scheduler.ask(CapacityUsage(), timeout=5)
    holders = await holders_of(ctx, views)
    return [node_json(view, used.get(view.node_id, {}), holders) for view in views]


async def changes(
    ctx: ApiContext,
    events: trio.MemoryReceiveChannel[EventRecord],
    closing: trio.Event,
    *,
    poll_period: float = POLL_PERIOD,
    view: View = "full",
) -> AsyncGenerator[bytes, None]:
    """The SSE stream of one client: a snapshot, then changes until ``closing`` is set;
    deployments in ``view`` (``full`` or ``summary``).

    No cancel scope stays open across a ``yield`` (Trio forbids it in generators): each
    wait is bounded and closed before the next message goes out.
    """
    state = LiveState()
    cache = ctx.shared_reads()
    nodes = await current_nodes(ctx)
    now = time.time()
    for node in nodes:
        state.node_changed(node, now)
    # Shared with every other stream: a page-reload storm costs one read.
    snapshot = await cache.recent(max_age=poll_period)
    state.sweep(snapshot)  # a new client: every deployment, as the shared array has them
    head = json_compact({"now": now, "nodes": nodes})
    array = await cache.deployments_array(snapshot, view)
    yield sse_raw("snapshot", head[:-1] + b',"deployments":' + array + b"}")
    next_poll = trio.current_time() + poll_period
    next_keepalive = trio.current_time() + KEEPALIVE_PERIOD
    while not closing.is_set():
        received: list[EventRecord] = []
        wake = min(next_poll, next_keepalive, trio.current_time() + CLOSING_CHECK)
        with trio.move_on_at(wake):
            received.append(await events.receive())
        while True:  # take what else is queued, so a burst becomes one batch of reads
            try:
                received.append(events.receive_nowait())
            except trio.WouldBlock:
                break
        dirty: dict[str, None] = {}
        for event in received:
            yield cache.event_sse(event)
            if event.deployment_id is not None:
                dirty[event.deployment_id] = None
        for deployment_id in dirty:
            for message in _reread(cache, state, deployment_id, view):
                yield message
        if trio.current_time() >= next_poll:
            next_poll = trio.current_time() + poll_period
            for message in await _sweep(ctx, state, poll_period, view):
                yield message
        if received or trio.current_time() >= next_keepalive:
            if not received:
                yield b": keepalive\n\n"
            next_keepalive = trio.current_time() + KEEPALIVE_PERIOD


def _reread(cache: SnapshotCache, state: LiveState, deployment_id: str, view: View) -> list[bytes]:
    # One deployment, right when its event comes; streams share the read until a write.
    found = cache.deployment(deployment_id)
    if found.record is None:
        gone = state.forget_deployment(deployment_id, version=found.version)
        return [sse("removed", {"id": deployment_id})] if gone else []
    assert found.mark is not None
    changed = state.mark_changed(deployment_id, found.mark, version=found.version)
    return [found.message(view)] if changed else []


async def _sweep(ctx: ApiContext, state: LiveState, poll_period: float, view: View) -> list[bytes]:
    out: list[bytes] = []
    now = time.time()
    for node in await current_nodes(ctx):
        if state.node_changed(node, now):
            out.append(sse("node", {"now": now, "node": node}))
    # Every stream sweeps each period; all of them share one read of the whole store.
    snapshot = await ctx.shared_reads().recent(max_age=poll_period)
    changed, gone = state.sweep(snapshot)
    out.extend(snapshot.deployment_sse(record, view) for record in changed)
    out.extend(sse("removed", {"id": deployment_id}) for deployment_id in gone)
    return out
