"""A group of creates in a few statements: its deployments, their first versions and
their instances each go in as one multi-row INSERT, and read back as they did when
each row had a statement of its own; a name already taken still names itself."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from symphony.conductor.deployments.creating import FirstInstances, created_event
from symphony.conductor.store import InstanceRecord, NameConflict, Store

from .test_store import FakeClock, spec


def _group(store: Store, names: list[str]) -> FirstInstances:
    first = FirstInstances()
    store.create_deployments_noted([spec(n, replicas=2) for n in names], created_event, first)
    return first


def test_store_group_of_creates_in_one_statement_per_table(tmp_path: Path) -> None:
    with Store.open(tmp_path / "symphony.db", clock=FakeClock()) as store:
        statements: list[str] = []
        raw = store._conn.raw  # type: ignore[attr-defined]
        raw.set_trace_callback(statements.append)
        try:
            _group(store, [f"web-{i}" for i in range(8)])
        finally:
            raw.set_trace_callback(None)
    inserts = [s.split("(")[0].split()[-1] for s in statements if s.startswith("INSERT")]
    # Was 8 deployments, 8 versions, then 16 instances (one statement each).
    assert inserts == ["deployments", "deployment_versions", "instances", "events"]


def test_store_group_reads_back_as_one_by_one(store_url: str) -> None:
    """The same creates stored as a group and one by one give the same records,
    versions, instances and events (ids and times aside)."""
    with Store.open_url(store_url, clock=FakeClock()) as store:
        first = _group(store, ["a", "b", "c"])
        store.create_deployment(spec("d", replicas=2))
        made = [i for group in first.made.values() for i in group]
        records = {d.name: d for d in store.list_deployments()}
        assert sorted(records) == ["a", "b", "c", "d"]
        for name in "abc":
            record = records[name]
            assert store.get_deployment(record.id) == record
            assert (record.generation, record.version, record.failure) == (1, 1, None)
            versions = store.list_versions(record.id)
            assert [(v.version, v.spec, v.status, v.reason) for v in versions] == [
                (1, record.spec, "good", None)
            ]
            assert versions[0].created_at == versions[0].used_at == record.created_at
            assert store.list_instances(deployment_id=record.id) == [
                i for i in made if i.deployment_id == record.id
            ]
            assert [
                (e.kind, e.instance_id) for e in store.list_events(deployment_id=record.id)
            ] == [
                ("created", None),
                *(("created", i.id) for i in made if i.deployment_id == record.id),
            ]


@pytest.mark.parametrize("names", [["new", "taken", "other"], ["x", "twice", "twice"]])
def test_store_group_meeting_a_taken_name_names_it(store_url: str, names: list[str]) -> None:
    """The group's statement does not say which row broke the constraint: the group is
    stored again row by row (on PostgreSQL after the failed transaction rolled back),
    and nothing of it is kept."""
    with Store.open_url(store_url, clock=FakeClock()) as store:
        store.create_deployment(spec("taken"))
        with pytest.raises(NameConflict) as raised:
            _group(store, names)
        assert raised.value.name == names[1]
        assert [d.name for d in store.list_deployments()] == ["taken"]
        assert store.list_instances() == []
        _group(store, ["after"])  # the store is fine afterwards
        assert sorted(d.name for d in store.list_deployments()) == ["after", "taken"]


def test_store_one_instance_twice_in_a_save_keeps_the_last(store_url: str) -> None:
    with Store.open_url(store_url, clock=FakeClock()) as store:
        d = store.create_deployment(spec("a"))
        one = InstanceRecord("a-0-x", d.id, 0)
        two = InstanceRecord("a-1-y", d.id, 1)
        saved = store.upsert_instances([one, two, dataclasses.replace(one, reason="later")])
        assert store.list_instances() == [saved[2], saved[1]]
        assert store.get_instance("a-0-x").reason == "later"  # type: ignore[union-attr]


def test_store_saved_instance_is_the_given_one_stamped(tmp_path: Path) -> None:
    """A save returns each instance as ``dataclasses.replace(given, updated_at=now)``
    would make it (every field, still frozen)."""
    clock = FakeClock()
    store = Store.open(tmp_path / "symphony.db", clock=clock)
    d = store.create_deployment(spec("a"))
    given = InstanceRecord(
        "a-0-x", d.id, 0, "running", "n1", 42, 3, None, None, "ok", "healthy",
        {"cpu": 1}, 2, 5.0, None, 1.0, None, {"ports": {"p": 1}}, 2, ("0",),
    )  # fmt: skip
    clock.now = 77.0
    (saved,) = store.upsert_instances([given])
    assert saved == dataclasses.replace(given, updated_at=77.0)
    assert saved.state is given.state
    with pytest.raises(dataclasses.FrozenInstanceError):
        saved.reason = "changed"  # type: ignore[misc]
    assert store.get_instance("a-0-x") == saved
    store.close()


RICH = {
    "config": {"command": ["python3", "-c", "print('é ✓')"], "env": {"GREETING": 'héllo "q"'}},
    "replicas": 3,
    "labels": {"team": "web-1.x"},
    "restart_policy": {"type": "always", "backoff_seconds": 0.25, "max_restarts": 7},
    "stop_timeout_seconds": 1e-3,
}


def test_store_spec_text_holds_the_spec_as_to_dict(tmp_path: Path) -> None:
    """The store writes a spec's text in one step (compact, not ``json.dumps``): it
    holds the values of ``to_dict()``, and a row written the old way reads the same."""
    import json

    with Store.open(tmp_path / "symphony.db", clock=FakeClock()) as store:
        new = spec("new", **RICH)
        (record,) = store.create_deployments([new])
        raw = store._conn.raw  # type: ignore[attr-defined]
        (text,) = raw.execute("SELECT spec FROM deployments WHERE id = ?", (record.id,)).fetchone()
        assert json.loads(text) == new.to_dict()
        (version_text,) = raw.execute("SELECT spec FROM deployment_versions").fetchone()
        assert json.loads(version_text) == new.to_dict()
        raw.execute(
            "UPDATE deployments SET spec = ? WHERE id = ?",
            (json.dumps(new.to_dict()), record.id),
        )
        assert store.get_deployment(record.id) == record


def test_store_spec_with_a_lone_surrogate_is_stored_as_before(tmp_path: Path) -> None:
    """A spec an older version accepted (a lone surrogate, which UTF-8 cannot carry)
    is still written, escaped, and reads back equal."""
    from symphony.spec import parse_stored_spec

    old = parse_stored_spec({"name": "old-bad", "config": {"command": ["echo", "\ud800"]}})
    with Store.open(tmp_path / "symphony.db", clock=FakeClock()) as store:
        (record,) = store.create_deployments([old])
        assert store.get_deployment("old-bad") == record
        assert store.list_versions(record.id)[0].spec == old


def test_store_event_data_written_as_json_dumps_writes_it(tmp_path: Path) -> None:
    from symphony.conductor.store import NewEvent

    with Store.open(tmp_path / "symphony.db", clock=FakeClock()) as store:
        d = store.create_deployment(spec("a"))
        given = [NewEvent("a", "empty", d.id), NewEvent("b", "some", d.id, data={"n": [1]})]
        events = store.append_events(given)
        raw = store._conn.raw  # type: ignore[attr-defined]
        rows = raw.execute("SELECT data FROM events WHERE kind IN ('a', 'b') ORDER BY id")
        assert [r[0] for r in rows] == ["{}", '{"n": [1]}']
        assert [e.data for e in events] == [{}, {"n": [1]}]
        assert events == store.list_events(deployment_id=d.id)[-2:]
