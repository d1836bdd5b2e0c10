"""``GET /live``: what changes in the Conductor, pushed as Server-Sent Events (the web UI).

One ``snapshot`` first (every node and deployment, so a client needs nothing else), then
only changes, each an SSE message ``event: <type>`` / ``data: <one JSON line>``:

==============  ===============================================================
``snapshot``    ``{"now", "nodes": [...], "deployments": [...]}`` (once, first)
``event``       ``{"event": {...}}``: a deployment event, the moment it is recorded
``deployment``  ``{"deployment": {...}}``: a deployment whose state or instances changed
``removed``     ``{"id"}``: a deployment that no longer exists
``node``        ``{"now", "node": {...}}``: a node whose state, groups, capacities or
                load changed (load at most every :data:`USAGE_PERIOD`)
==============  ===============================================================

Deployment events come from the :class:`EventLog` feed and trigger an immediate re-read
of that one deployment. A cheap server-side sweep every :data:`POLL_PERIOD` catches
what has no event (a pid, a heartbeat, a deleted deployment); it compares fingerprints
and sends only what differs, never a full snapshot again. ``now`` is the Conductor's
clock, so a browser can show heartbeat ages without trusting its own clock.

The token is the usual ``Authorization: Bearer`` header: the UI reads this stream with
``fetch()`` (``EventSource`` cannot send headers). The stream has no response timeout
and ends when the server shuts down.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncGenerator, AsyncIterator, Iterable
from contextlib import aclosing
from typing import Any

import trio
from quart import Blueprint, Response, current_app

from ..deployments import CapacityUsage
from ..nodes.model import ListNodes
from ..store import DeploymentRecord, EventRecord, InstanceRecord
from .app import context
from .context import ApiContext
from .routes_events import event_json
from .routes_nodes import node_json
from .views import deployment_json

live = Blueprint("live", __name__)

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


def sse(kind: str, data: Any) -> bytes:
    """One Server-Sent Events message (the JSON has no newlines, so one ``data`` line)."""
    return f"event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class LiveState:
    """What one client was sent last, and the difference to what is true now.

    Pure bookkeeping (no I/O), so the rules are testable without a Conductor.
    """

    def __init__(self) -> None:
        self._deployments: dict[str, tuple[Any, ...]] = {}
        self._nodes: dict[str, dict[str, Any]] = {}
        self._node_sent_at: dict[str, float] = {}

    def deployment_fingerprint(
        self, record: DeploymentRecord, instances: Iterable[InstanceRecord]
    ) -> tuple[Any, ...]:
        """Changes whenever the deployment or one of its instances is written."""
        marks = sorted((i.id, i.updated_at, i.state) for i in instances)
        return (record.updated_at, record.generation, tuple(marks))

    def deployment_changed(
        self, record: DeploymentRecord, instances: list[InstanceRecord]
    ) -> dict[str, Any] | None:
        """The deployment's JSON if it differs from what was sent, else None."""
        mark = self.deployment_fingerprint(record, instances)
        if self._deployments.get(record.id) == mark:
            return None
        self._deployments[record.id] = mark
        return deployment_json(record, instances)

    def removed(self, existing: Iterable[str]) -> list[str]:
        """Ids sent before that are gone now (they are forgotten)."""
        gone = set(self._deployments) - set(existing)
        for deployment_id in gone:
            del self._deployments[deployment_id]
        return sorted(gone)

    def forget_deployment(self, deployment_id: str) -> bool:
        """Forget one deployment; True if it had been sent."""
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
    return [node_json(view, used.get(view.node_id, {})) for view in views]


def _instances_by_deployment(ctx: ApiContext) -> dict[str, list[InstanceRecord]]:
    grouped: dict[str, list[InstanceRecord]] = {}
    for inst in ctx.store.list_instances():
        grouped.setdefault(inst.deployment_id, []).append(inst)
    return grouped


async def changes(
    ctx: ApiContext,
    events: trio.MemoryReceiveChannel[EventRecord],
    closing: trio.Event,
    *,
    poll_period: float = POLL_PERIOD,
) -> AsyncGenerator[bytes, None]:
    """The SSE stream of one client: a snapshot, then changes until ``closing`` is set.

    No cancel scope stays open across a ``yield`` (Trio forbids it in generators): each
    wait is bounded and closed before the next message goes out.
    """
    state = LiveState()
    nodes = await current_nodes(ctx)
    now = time.time()
    for node in nodes:
        state.node_changed(node, now)
    grouped = _instances_by_deployment(ctx)
    deployments = [
        state.deployment_changed(record, grouped.get(record.id, []))
        for record in ctx.store.list_deployments()
    ]
    yield sse("snapshot", {"now": now, "nodes": nodes, "deployments": deployments})
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
            yield sse("event", {"event": event_json(event)})
            if event.deployment_id is not None:
                dirty[event.deployment_id] = None
        for deployment_id in dirty:
            for message in _reread(ctx, state, deployment_id):
                yield message
        if trio.current_time() >= next_poll:
            next_poll = trio.current_time() + poll_period
            for message in await _sweep(ctx, state):
                yield message
        if received or trio.current_time() >= next_keepalive:
            if not received:
                yield b": keepalive\n\n"
            next_keepalive = trio.current_time() + KEEPALIVE_PERIOD


def _reread(ctx: ApiContext, state: LiveState, deployment_id: str) -> list[bytes]:
    record = ctx.store.get_deployment(deployment_id)
    if record is None:
        gone = state.forget_deployment(deployment_id)
        return [sse("removed", {"id": deployment_id})] if gone else []
    found = state.deployment_changed(record, ctx.store.list_instances(deployment_id=record.id))
    return [sse("deployment", {"deployment": found})] if found is not None else []


async def _sweep(ctx: ApiContext, state: LiveState) -> list[bytes]:
    out: list[bytes] = []
    now = time.time()
    for node in await current_nodes(ctx):
        if state.node_changed(node, now):
            out.append(sse("node", {"now": now, "node": node}))
    grouped = _instances_by_deployment(ctx)
    records = ctx.store.list_deployments()
    for record in records:
        found = state.deployment_changed(record, grouped.get(record.id, []))
        if found is not None:
            out.append(sse("deployment", {"deployment": found}))
    out.extend(sse("removed", {"id": gone}) for gone in state.removed(r.id for r in records))
    return out


@live.get("/live")
async def live_stream() -> Response:
    ctx = context()
    # The generator runs after this handler returned, outside the app context.
    closing: trio.Event = current_app.config["SYMPHONY_CLOSING"]

    async def body() -> AsyncIterator[bytes]:
        with ctx.events.subscribe(EVENT_BUFFER) as events:
            async with aclosing(changes(ctx, events, closing)) as stream:
                async for chunk in stream:
                    yield chunk

    response = Response(
        body(),
        status=200,
        content_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
    response.timeout = None  # the stream lasts as long as the page stays open
    return response
