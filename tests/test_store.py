"""The store: deployments, instances, events, tokens, durability across reopen.

Tests that take ``store`` or ``store_url`` run on both engines, SQLite and PostgreSQL
(see ``tests/conftest.py``); the ones about the SQLite file itself take ``tmp_path``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from symphony.conductor.store import (
    MIGRATIONS,
    AlreadyExists,
    GenerationConflict,
    InstanceRecord,
    NameConflict,
    NewEvent,
    NotFound,
    Store,
    new_id,
)
from symphony.spec import DeploymentSpec, parse_spec

SEED = {
    "node_group": "gpu-1",
    "capacity_requests": {"Analytic1": 1},
    "kind": "exec",
    "config": {"command": ["python3", "main.py"], "env": {"LOG_LEVEL": "info"}},
    "restart_policy": {"type": "on-failure", "backoff_seconds": 10},
}


class FakeClock:
    """A clock the test moves by hand, so timestamps are exact."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def spec(name: str, **fields: object) -> DeploymentSpec:
    return parse_spec({**SEED, "name": name, **fields})


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(store_url: str, clock: FakeClock) -> Iterator[Store]:
    with Store.open_url(store_url, clock=clock) as s:
        yield s


def test_store_creates_database_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "symphony.db"
    with Store.open(path) as store:
        assert path.exists()
        assert store._conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert store._conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert store._conn.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert store.schema_version == len(MIGRATIONS)


def test_store_deployment_create_get_by_id_and_name(store: Store, clock: FakeClock) -> None:
    record = store.create_deployment(spec("trainer"))
    assert record.id.startswith("d_") and record.generation == 1
    assert record.created_at == record.updated_at == clock.now
    assert store.get_deployment(record.id) == record
    assert store.get_deployment("trainer") == record
    assert store.get_deployment("nope") is None
    assert record.desired_state == "running"


def test_store_deployment_name_conflict(store: Store) -> None:
    store.create_deployment(spec("trainer"))
    with pytest.raises(NameConflict) as info:
        store.create_deployment(spec("trainer"))
    assert info.value.name == "trainer" and "trainer" in str(info.value)
    assert len(store.list_deployments()) == 1


def test_store_deployment_duplicate_id_refused(store: Store) -> None:
    store.create_deployment(spec("a"), deployment_id="d_1")
    with pytest.raises(AlreadyExists):
        store.create_deployment(spec("b"), deployment_id="d_1")


def test_store_deployment_update_bumps_generation(store: Store, clock: FakeClock) -> None:
    record = store.create_deployment(spec("trainer"))
    clock.now += 5
    updated = store.update_deployment(record.id, record.spec.patched({"replicas": 3}))
    assert updated.generation == 2 and updated.spec.replicas == 3
    assert updated.updated_at == clock.now and updated.created_at == record.created_at
    assert store.get_deployment(record.id) == updated


def test_store_deployment_update_checks_generation_and_name(store: Store) -> None:
    a = store.create_deployment(spec("a"))
    store.create_deployment(spec("b"))
    with pytest.raises(GenerationConflict):
        store.update_deployment(a.id, a.spec, expected_generation=7)
    with pytest.raises(NameConflict):
        store.update_deployment(a.id, a.spec.patched({"name": "b"}))
    with pytest.raises(NotFound):
        store.update_deployment("d_missing", a.spec)
    assert store.get_deployment(a.id) == a  # failed updates changed nothing


def test_store_deployment_list_and_filter_by_desired_state(store: Store, clock: FakeClock) -> None:
    first = store.create_deployment(spec("a"))
    clock.now += 1
    second = store.create_deployment(spec("b", desired_state="stopped"))
    assert [d.name for d in store.list_deployments()] == ["a", "b"]
    assert store.list_deployments(desired_state="stopped") == [second]
    assert store.list_deployments(desired_state="running") == [first]


def test_store_deployment_delete_cascades(store: Store) -> None:
    record = store.create_deployment(spec("a"))
    store.upsert_instance(InstanceRecord("i_1", record.id, 0))
    store.append_event("created", "made", deployment_id=record.id)
    assert store.delete_deployment(record.id)
    assert not store.delete_deployment(record.id)
    assert store.get_deployment("a") is None
    assert store.list_instances() == []
    assert store.list_events() == []


def test_store_instances_upsert_get_list(store: Store, clock: FakeClock) -> None:
    d = store.create_deployment(spec("a"))
    one = InstanceRecord("i_1", d.id, 0, "assigned", node_id="n1", reservation={"Analytic1": 1})
    two = InstanceRecord("i_2", d.id, 1, "pending", reason="no node in group gpu-1")
    stored = store.upsert_instances([two, one])
    assert [r.updated_at for r in stored] == [clock.now, clock.now]
    assert store.get_instance("i_1") == dataclasses.replace(one, updated_at=clock.now)
    assert [i.id for i in store.list_instances(deployment_id=d.id)] == ["i_1", "i_2"]
    assert [i.id for i in store.list_instances(node_id="n1")] == ["i_1"]
    assert [i.id for i in store.list_instances(states=["pending"])] == ["i_2"]
    assert store.list_instances(states=[]) == []


def test_store_instance_upsert_changes_fields(store: Store, clock: FakeClock) -> None:
    d = store.create_deployment(spec("a"))
    first = store.upsert_instance(InstanceRecord("i_1", d.id, 0))
    clock.now += 3
    changed = dataclasses.replace(first, state="running", pid=42, started_at=clock.now)
    updated = store.upsert_instance(changed)
    assert (updated.state, updated.pid, updated.updated_at) == ("running", 42, clock.now)
    assert store.get_instance("i_1") == updated
    with pytest.raises(ValueError, match="state"):
        dataclasses.replace(first, state="dancing")


def test_store_instance_batch_is_all_or_nothing(store: Store) -> None:
    d = store.create_deployment(spec("a"))
    good = InstanceRecord("i_1", d.id, 0)
    orphan = InstanceRecord("i_2", "d_missing", 0)
    with pytest.raises(NotFound, match="does not exist"):
        store.upsert_instances([good, orphan])
    assert store.list_instances() == []


def test_store_instance_delete(store: Store) -> None:
    d = store.create_deployment(spec("a"))
    store.upsert_instances([InstanceRecord(f"i_{k}", d.id, k) for k in range(3)])
    assert store.delete_instances(["i_0", "i_2", "i_9"]) == 2
    assert [i.id for i in store.list_instances()] == ["i_1"]


def test_store_events_append_list_page(store: Store, clock: FakeClock) -> None:
    d = store.create_deployment(spec("a"))
    first = store.append_event("created", "made", deployment_id=d.id, data={"replicas": 1})
    batch = store.append_events(
        [NewEvent("placed", f"on n{k}", d.id, f"i_{k}", {"node": f"n{k}"}) for k in range(4)]
    )
    store.append_event("node-joined", "n9 joined")
    assert [e.id for e in batch] == list(range(first.id + 1, first.id + 5))
    assert first.at == clock.now and first.data == {"replicas": 1}
    mine = store.list_events(deployment_id=d.id)
    assert [e.kind for e in mine] == ["created"] + ["placed"] * 4
    page = store.list_events(deployment_id=d.id, after_id=first.id, limit=2)
    assert [e.message for e in page] == ["on n0", "on n1"]
    assert [e.message for e in store.list_events(limit=2, newest=True)] == ["on n3", "n9 joined"]
    assert [e.id for e in store.list_events(instance_id="i_2")] == [batch[2].id]
    assert store.list_events() == mine + store.list_events(after_id=batch[-1].id)


def test_store_events_refuse_bad_input(store: Store) -> None:
    with pytest.raises(ValueError, match="JSON"):
        store.append_event("x", "y", data={"when": object()})
    with pytest.raises(NotFound):
        store.append_event("x", "y", deployment_id="d_missing")
    with pytest.raises(ValueError, match="limit"):
        store.list_events(limit=-1)
    assert store.list_events() == []


def test_store_events_prune_keeps_newest(store: Store) -> None:
    d = store.create_deployment(spec("a"))
    store.append_events([NewEvent("k", f"m{k}", d.id) for k in range(5)])
    store.append_events([NewEvent("k", f"free{k}") for k in range(3)])
    assert store.prune_events(keep_per_deployment=2) == 4
    assert [e.message for e in store.list_events()] == ["m3", "m4", "free1", "free2"]


def test_store_join_token_single_use(store: Store, clock: FakeClock) -> None:
    token = store.add_join_token("t_1", "hash", expires_at=clock.now + 60)
    assert token.usable(clock.now) and store.get_join_token("t_1") == token
    used = store.use_join_token("t_1")
    assert used is not None and used.used_at == clock.now
    assert store.use_join_token("t_1") is None  # spent
    assert store.use_join_token("t_unknown") is None
    with pytest.raises(AlreadyExists):
        store.add_join_token("t_1", "hash", expires_at=None)


def test_store_join_token_expiry_and_multi_use(store: Store, clock: FakeClock) -> None:
    store.add_join_token("t_multi", "h", expires_at=None, single_use=False)
    store.add_join_token("t_short", "h", expires_at=clock.now + 10)
    assert store.use_join_token("t_multi") is not None
    assert store.use_join_token("t_multi") is not None
    clock.now += 10
    assert store.use_join_token("t_short") is None  # expired exactly at expires_at
    assert store.delete_expired_join_tokens() == 1
    assert [t.id for t in store.list_join_tokens()] == ["t_multi"]
    assert store.delete_join_token("t_multi") and not store.delete_join_token("t_multi")


def test_store_writes_survive_reopen(store_url: str) -> None:
    store = Store.open_url(store_url)
    d = store.create_deployment(spec("trainer", replicas=2))
    store.upsert_instance(InstanceRecord("i_1", d.id, 0, "running", node_id="n1", pid=7))
    store.append_event("started", "running on n1", deployment_id=d.id)
    store.add_join_token("t_1", "h", expires_at=None)
    store.close()  # no checkpoint or flush call: each method committed already

    with Store.open_url(store_url) as again:
        assert again.get_deployment("trainer") == d
        assert again.get_instance("i_1").pid == 7  # type: ignore[union-attr]
        assert [e.kind for e in again.list_events()] == ["started"]
        assert again.get_join_token("t_1") is not None


def test_store_write_visible_to_another_connection_at_once(tmp_path: Path) -> None:
    # A second connection (another process would be the same) sees the commit at once.
    import sqlite3

    path = tmp_path / "symphony.db"
    with Store.open(path) as store:
        store.create_deployment(spec("a"))
        other = sqlite3.connect(path)
        assert other.execute("SELECT name FROM deployments").fetchall() == [("a",)]
        other.close()


def test_store_new_ids_are_distinct_and_never_valid_names() -> None:
    ids = {new_id("d") for _ in range(1000)}
    assert len(ids) == 1000
    assert all("_" in i for i in ids)


def test_store_node_incarnation_is_durable(store_url: str) -> None:
    with Store.open_url(store_url) as store:
        assert store.get_node_incarnation("n1") is None
        store.set_node_incarnation("n1", "a" * 32)
        store.set_node_incarnation("n1", "b" * 32)
    with Store.open_url(store_url) as store:
        assert store.get_node_incarnation("n1") == "b" * 32
        assert store.get_node_incarnation("n2") is None


def test_store_node_drains_are_durable_and_keep_their_start(store_url: str) -> None:
    times = iter([100.0, 200.0, 300.0])
    with Store.open_url(store_url, clock=lambda: next(times)) as store:
        assert store.draining_nodes() == {}
        store.set_node_draining("n1", True)
        store.set_node_draining("n1", True)  # again: still draining since the first time
        store.set_node_draining("n2", True)
        store.set_node_draining("n3", False)  # never drained: nothing to undo
    with Store.open_url(store_url) as store:
        assert store.draining_nodes() == {"n1": 100.0, "n2": 300.0}
        store.set_node_draining("n1", False)
        assert store.draining_nodes() == {"n2": 300.0}


def test_store_experiment_name_conflicts_leave_nothing_behind(store: Store) -> None:
    from symphony.conductor.store import ExperimentNameConflict
    from symphony.spec import parse_experiment

    experiment, processes = parse_experiment(
        {"name": "rl", "processes": [{"name": "a", "command": ["true"]}]}
    )
    store.create_experiment(experiment, processes)
    with pytest.raises(ExperimentNameConflict, match="'rl'"):
        store.create_experiment(experiment, processes)
    assert [e.name for e in store.list_experiments()] == ["rl"]
    assert [d.name for d in store.list_deployments()] == ["rl.a"]


def test_store_refuses_a_broken_row_the_same_way_on_both_engines(store: Store) -> None:
    # A constraint no finer error names comes out as one ConstraintViolation, whichever
    # engine's words it was reported in, and the store stays usable.
    from symphony.conductor.store import ConstraintViolation

    with pytest.raises(ConstraintViolation) as info, store._write() as conn:
        conn.execute("INSERT INTO counters (name, value) VALUES (?, NULL)", ("x",))
    assert info.value.kind == "other"
    store.add_to_counter("x", 2)
    assert store.counter("x") == 2


def test_store_keeps_a_peers_text_with_nul_characters(store: Store) -> None:
    # A node's reason is its own text: a NUL in it (PostgreSQL's text cannot hold one)
    # must not fail the write that records the instance's state.
    d = store.create_deployment(spec("a"))
    stored = store.upsert_instance(InstanceRecord("i_1", d.id, 0, "failed", reason="bad\x00byte"))
    reason = store.get_instance("i_1").reason  # type: ignore[union-attr]
    assert reason in ("bad\x00byte", "bad\ufffdbyte") and stored.reason == "bad\x00byte"
    event = store.append_event("failed", "exit\x00", deployment_id=d.id, data={"r": "\x00"})
    assert store.list_events()[-1].id == event.id
