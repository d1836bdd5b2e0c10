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
from symphony.conductor.api.routes_live import (
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
