"""The store's writes made for creating many: several deployments in one transaction,
instances with their events in one transaction; each all or nothing."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from symphony.conductor.store import InstanceRecord, NameConflict, NewEvent, NotFound, Store

from .test_store import FakeClock, spec


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(tmp_path: Path, clock: FakeClock) -> Iterator[Store]:
    with Store.open(tmp_path / "symphony.db", clock=clock) as s:
        yield s


def test_store_create_deployments_in_one_transaction(store: Store, clock: FakeClock) -> None:
    before = store.commits
    records = store.create_deployments([spec("a"), spec("b")])
    assert store.commits == before + 1
    assert [r.name for r in records] == ["a", "b"]
    assert [store.get_deployment(n) for n in ("a", "b")] == records
    assert store.taken_names(["a", "c", "b", "a"]) == {"a", "b"}


def test_store_create_deployments_is_all_or_nothing(store: Store) -> None:
    store.create_deployment(spec("taken"))
    with pytest.raises(NameConflict, match="taken"):
        store.create_deployments([spec("new"), spec("taken")])
    with pytest.raises(NameConflict, match="twice"):
        store.create_deployments([spec("twice"), spec("twice")])
    assert [d.name for d in store.list_deployments()] == ["taken"]


def test_store_instances_with_events_in_one_transaction(store: Store, clock: FakeClock) -> None:
    d = store.create_deployment(spec("a"))
    before = store.commits
    saved, events = store.save_instances_with_events(
        [InstanceRecord("i_1", d.id, 0)], [NewEvent("created", "replica 0", d.id, "i_1")]
    )
    assert store.commits == before + 1
    assert saved == [dataclasses.replace(InstanceRecord("i_1", d.id, 0), updated_at=clock.now)]
    assert store.get_instance("i_1") == saved[0]
    assert [(e.kind, e.instance_id) for e in store.list_events(deployment_id=d.id)] == [
        ("created", "i_1")
    ]
    assert events == store.list_events(deployment_id=d.id)


def test_store_instances_with_events_is_all_or_nothing(store: Store) -> None:
    d = store.create_deployment(spec("a"))
    with pytest.raises(NotFound, match="does not exist"):
        store.save_instances_with_events(
            [InstanceRecord("i_1", d.id, 0)], [NewEvent("x", "an orphan", "d_missing")]
        )
    assert store.list_instances() == []
    assert store.list_events(deployment_id=d.id) == []


def test_store_events_of_a_group_in_one_statement_ids_in_order(
    store: Store, clock: FakeClock
) -> None:
    """A group's events go in as one INSERT (a chunk at most): each returned record is
    the row stored under its id, in the order given, with its own time and data."""
    d = store.create_deployment(spec("a"))
    statements: list[str] = []
    raw = store._conn.raw  # type: ignore[attr-defined]
    raw.set_trace_callback(statements.append)
    given = [
        NewEvent(f"k{i}", f"event {i}", d.id, f"i_{i % 3}", {"n": i}, at=None if i % 2 else 5.0 + i)
        for i in range(250)  # more than one chunk
    ]
    try:
        _, events = store.save_instances_with_events([], given)
    finally:
        raw.set_trace_callback(None)
    inserts = [s for s in statements if s.lstrip().upper().startswith("INSERT INTO EVENTS")]
    assert len(inserts) == 3  # chunks of 100: was one statement per event
    assert events == store.list_events(deployment_id=d.id, limit=1000)[-250:]
    assert [e.id for e in events] == sorted(e.id for e in events)
    assert [(e.kind, e.message, e.instance_id, e.data, e.at) for e in events] == [
        (g.kind, g.message, g.instance_id, {"n": i}, clock.now if i % 2 else 5.0 + i)
        for i, g in enumerate(given)
    ]


def test_store_events_of_a_group_keep_their_order_on_each_engine(store_url: str) -> None:
    with Store.open_url(store_url, clock=FakeClock()) as store:
        d = store.create_deployment(spec("a"))
        store.append_event("before", "one alone", deployment_id=d.id)
        given = [NewEvent(f"k{i}", f"event {i}", d.id, data={"n": i}) for i in range(130)]
        events = store.append_events(given)
        assert [(e.kind, e.data) for e in events] == [(g.kind, g.data) for g in given]
        assert events == store.list_events(deployment_id=d.id, limit=1000)[1:]


def test_store_instance_json_columns_written_as_json_dumps_writes_them(store: Store) -> None:
    d = store.create_deployment(spec("a"))
    full = InstanceRecord(
        "i_f", d.id, 0, reservation={"A": 1}, network={"env": {"X": "1"}}, devices=("0", "1")
    )
    store.upsert_instances([InstanceRecord("i_e", d.id, 1), full])
    raw = store._conn.raw  # type: ignore[attr-defined]
    rows = raw.execute("SELECT id, reservation, network, devices FROM instances ORDER BY id")
    assert [tuple(r) for r in rows] == [
        ("i_e", "{}", "{}", "[]"),
        ("i_f", '{"A": 1}', '{"env": {"X": "1"}}', '["0", "1"]'),
    ]
    assert store.get_instance("i_f") == dataclasses.replace(
        full,
        updated_at=store.get_instance("i_f").updated_at,  # type: ignore[union-attr]
    )
