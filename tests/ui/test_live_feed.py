"""The /live feed's rules without HTTP: what is re-sent, what is held back, when it ends.

:class:`LiveState` is pure bookkeeping; :func:`changes` runs here against real actors
(a NodeRegistry and a Scheduler), a real SQLite store and a real EventLog, on Trio's
virtual clock, so its periods are exact and the tests take milliseconds.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from symphony.actors import spawn
from symphony.conductor.api.context import ApiContext
from symphony.conductor.api.live_feed import (
    KEEPALIVE_PERIOD,
    POLL_PERIOD,
    USAGE_PERIOD,
    LiveState,
    changes,
    sse,
)
from symphony.conductor.deployments.events import EventLog
from symphony.conductor.deployments.scheduler import Scheduler
from symphony.conductor.nodes.registry import NodeRegistry
from symphony.conductor.store import InstanceRecord, Store
from symphony.spec import parse_spec


def node(**changes: Any) -> dict[str, Any]:
    base = {
        "node_id": "n1",
        "state": "ready",
        "groups": ["g"],
        "capacities_total": {"A": 10},
        "capacities_used": {"A": 0},
        "usage": {"cpu_percent": 1.0},
        "last_heartbeat": 100.0,
    }
    return {**base, **changes}


def test_live_state_sends_a_node_once_until_it_changes() -> None:
    state = LiveState()
    assert state.node_changed(node(), now=0.0)
    assert not state.node_changed(node(), now=10.0)
    assert state.node_changed(node(state="disconnected"), now=10.1)


def test_live_state_holds_back_load_only_changes_for_the_usage_period() -> None:
    state = LiveState()
    assert state.node_changed(node(), now=0.0)
    busier = node(usage={"cpu_percent": 50.0}, last_heartbeat=101.0)
    assert not state.node_changed(busier, now=USAGE_PERIOD - 0.1)
    # A change that matters goes out at once, load period or not.
    assert state.node_changed(node(capacities_used={"A": 3}), now=USAGE_PERIOD - 0.05)
    assert not state.node_changed(node(capacities_used={"A": 3}, usage={}), now=USAGE_PERIOD)
    assert state.node_changed(node(capacities_used={"A": 3}, usage={}), now=2 * USAGE_PERIOD)


def test_live_state_sends_a_deployment_when_it_or_an_instance_is_written(tmp_path: Path) -> None:
    with Store.open(tmp_path / "db") as store:
        record = store.create_deployment(parse_spec({"name": "web", "config": {"command": ["x"]}}))
        state = LiveState()
        assert state.deployment_changed(record, [])["name"] == "web"
        assert state.deployment_changed(record, []) is None
        inst = store.upsert_instance(InstanceRecord("i1", record.id, 0))
        sent = state.deployment_changed(record, [inst])
        assert sent is not None and sent["instances"][0]["id"] == "i1"
        assert state.deployment_changed(record, [inst]) is None
        assert state.removed([record.id]) == []
        assert state.removed([]) == [record.id]
        assert state.removed([]) == []  # forgotten: reported once


def test_sse_messages_are_one_data_line_of_json() -> None:
    message = sse("event", {"text": "two\nlines", "n": 1})
    kind, data, end = message.decode().split("\n", 2)
    assert kind == "event: event"
    assert json.loads(data.removeprefix("data: ")) == {"text": "two\nlines", "n": 1}
    assert end == "\n"


@pytest.fixture
async def ctx(tmp_path: Path) -> AsyncIterator[ApiContext]:
    with Store.open(tmp_path / "db") as store:
        async with trio.open_nursery() as nursery:
            scheduler = await spawn(nursery, Scheduler(), name="scheduler")
            registry = await spawn(nursery, NodeRegistry(subscribers=(scheduler,)), name="reg")
            yield ApiContext(
                registry=registry,
                scheduler=scheduler,
                deployments=scheduler,  # unused by the feed
                store=store,
                events=EventLog(store),
                started_at=time.time(),
                version="test",
                token=None,
            )
            nursery.cancel_scope.cancel()


def parse(chunk: bytes) -> tuple[str, Any]:
    text = chunk.decode()
    if text.startswith(":"):
        return "comment", text
    kind, data = text.strip().split("\n")
    return kind.removeprefix("event: "), json.loads(data.removeprefix("data: "))


async def test_changes_pushes_events_at_once_and_the_sweep_catches_the_rest(
    ctx: ApiContext, autojump_clock: trio.testing.MockClock
) -> None:
    store, events = ctx.store, ctx.events
    closing = trio.Event()
    with events.subscribe() as feed:
        stream = changes(ctx, feed, closing)
        kind, snapshot = parse(await stream.__anext__())
        assert (kind, snapshot["nodes"], snapshot["deployments"]) == ("snapshot", [], [])

        record = store.create_deployment(parse_spec({"name": "web", "config": {"command": ["x"]}}))
        events.add(record, "created", "deployment web created")
        start = trio.current_time()
        assert parse(await stream.__anext__())[0] == "event"
        kind, data = parse(await stream.__anext__())
        assert (kind, data["deployment"]["name"]) == ("deployment", "web")
        assert trio.current_time() - start < 0.01  # pushed, not polled

        # A write with no event (an instance appears) is found by the sweep.
        store.upsert_instance(InstanceRecord("i1", record.id, 0))
        kind, data = parse(await stream.__anext__())
        assert kind == "deployment" and data["deployment"]["instances"][0]["id"] == "i1"
        assert trio.current_time() - start <= POLL_PERIOD + 0.01

        store.delete_deployment(record.id)
        assert parse(await stream.__anext__()) == ("removed", {"id": record.id})

        # Quiet since the last event: a keepalive comment; shutdown then ends the stream.
        assert parse(await stream.__anext__())[0] == "comment"
        assert trio.current_time() - start == pytest.approx(KEEPALIVE_PERIOD, abs=POLL_PERIOD)
        closing.set()
        with pytest.raises(StopAsyncIteration):
            await stream.__anext__()
        await stream.aclose()


async def test_changes_in_the_summary_view_send_no_spec_by_event_or_by_sweep(
    ctx: ApiContext, autojump_clock: trio.testing.MockClock
) -> None:
    store, events = ctx.store, ctx.events
    first = store.create_deployment(parse_spec({"name": "db", "config": {"command": ["x"]}}))
    closing = trio.Event()
    with events.subscribe() as feed:
        stream = changes(ctx, feed, closing, view="summary")
        kind, snapshot = parse(await stream.__anext__())
        assert kind == "snapshot" and [d["name"] for d in snapshot["deployments"]] == ["db"]
        assert "spec" not in snapshot["deployments"][0]
        assert snapshot["deployments"][0]["generation"] == first.generation

        record = store.create_deployment(parse_spec({"name": "web", "config": {"command": ["x"]}}))
        events.add(record, "created", "deployment web created")
        assert parse(await stream.__anext__())[0] == "event"
        kind, data = parse(await stream.__anext__())  # re-read at once, on the event
        assert (kind, data["deployment"]["name"]) == ("deployment", "web")
        assert "spec" not in data["deployment"]

        # A spec change with no event: the sweep finds it, its generation moved.
        store.update_deployment(first.id, first.spec.patched({"replicas": 2}))
        kind, data = parse(await stream.__anext__())
        assert (kind, data["deployment"]["name"]) == ("deployment", "db")
        assert "spec" not in data["deployment"]
        assert data["deployment"]["generation"] > first.generation
        assert data["deployment"]["replicas"]["desired"] == 2
        closing.set()
        async for _ in stream:
            pass


class CountingStore:
    """The real store, counting the reads of everything (an unfiltered instance list)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self.full_reads = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)

    def list_instances(self, **filters: Any) -> list[InstanceRecord]:
        self.full_reads += not filters
        return self._store.list_instances(**filters)


async def test_changes_of_many_clients_share_one_read_per_period(
    ctx: ApiContext, autojump_clock: trio.testing.MockClock
) -> None:
    for n in range(20):
        spec = parse_spec({"name": f"web-{n}", "config": {"command": ["x"]}})
        record = ctx.store.create_deployment(spec)
        ctx.store.upsert_instance(InstanceRecord(f"i{n}", record.id, 0))
    counting = CountingStore(ctx.store)
    shared = ApiContext(
        registry=ctx.registry,
        scheduler=ctx.scheduler,
        deployments=ctx.deployments,
        store=counting,
        events=ctx.events,
        started_at=ctx.started_at,
        version="test",
        token=None,
    )
    closing = trio.Event()
    snapshots: list[Any] = []

    async def client() -> None:
        with shared.events.subscribe() as feed:
            stream = changes(shared, feed, closing)
            snapshots.append(parse(await stream.__anext__()))
            async for _ in stream:
                pass

    periods, clients = 5, 30
    async with trio.open_nursery() as nursery:
        for _ in range(clients):
            nursery.start_soon(client)
        await trio.sleep(periods * POLL_PERIOD + POLL_PERIOD / 2)
        closing.set()
    assert all(kind == "snapshot" and len(data["deployments"]) == 20 for kind, data in snapshots)
    assert len(snapshots) == clients
    # One read for the first snapshots and one per period, however many clients.
    assert counting.full_reads <= periods + 1


def test_live_state_never_sends_a_sweep_older_than_its_own_reread(tmp_path: Path) -> None:
    from symphony.conductor.api.snapshots import Snapshot

    with Store.open(tmp_path / "db") as store:
        old = store.create_deployment(parse_spec({"name": "web", "config": {"command": ["x"]}}))
        stale = Snapshot([old], [], version=store.commits, taken_at=0.0)
        state = LiveState()
        assert state.sweep(stale) == ([old], [])
        # An event: the client re-reads the deployment after a change and a new one.
        new = store.update_deployment(old.id, old.spec.patched({"replicas": 2}))
        other = store.create_deployment(parse_spec({"name": "db", "config": {"command": ["x"]}}))
        assert state.deployment_changed(new, [], version=store.commits) is not None
        assert state.deployment_changed(other, [], version=store.commits) is not None
        # A shared snapshot read before those writes: neither older state nor "removed".
        assert state.sweep(stale) == ([], [])
        fresh = Snapshot([new, other], [], version=store.commits, taken_at=1.0, previous=stale)
        assert state.sweep(fresh) == ([], [])
        store.delete_deployment(other.id)
        gone = Snapshot([new], [], version=store.commits, taken_at=2.0, previous=fresh)
        assert state.sweep(gone) == ([], [other.id])


def test_live_state_removes_what_it_knew_only_from_rereads(tmp_path: Path) -> None:
    """Created and deleted between two shared snapshots: neither of them ever had it."""
    from symphony.conductor.api.snapshots import Snapshot

    with Store.open(tmp_path / "db") as store:
        before = Snapshot([], [], version=store.commits, taken_at=0.0)
        state = LiveState()
        assert state.sweep(before) == ([], [])
        record = store.create_deployment(parse_spec({"name": "web", "config": {"command": ["x"]}}))
        assert state.deployment_changed(record, [], version=store.commits) is not None
        store.delete_deployment(record.id)
        after = Snapshot([], [], version=store.commits, taken_at=1.0, previous=before)
        assert state.sweep(after) == ([], [record.id])
