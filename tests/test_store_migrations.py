"""Schema versioning: fresh databases, later steps, failed steps, newer databases."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from symphony.conductor.store import (
    MIGRATIONS,
    CorruptRecord,
    SchemaTooNew,
    Store,
    migrate,
)
from symphony.spec import parse_spec


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    return conn


def version(path: Path) -> int:
    conn = sqlite3.connect(path)
    try:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])
    finally:
        conn.close()


def test_store_migration_fresh_database_reaches_latest(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store.open(path).close()
    assert version(path) == len(MIGRATIONS)
    Store.open(path).close()  # reopening an up-to-date database is a no-op
    assert version(path) == len(MIGRATIONS)


def test_store_migration_later_step_keeps_data(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store.open(path) as store:
        store.create_deployment(parse_spec({"name": "a", "config": {"command": ["true"]}}))
    step2 = "ALTER TABLE deployments ADD COLUMN owner TEXT NOT NULL DEFAULT 'nobody';"
    conn = connect(path)
    assert migrate(conn, [*MIGRATIONS, step2]) == len(MIGRATIONS) + 1
    rows = conn.execute("SELECT name, owner FROM deployments").fetchall()
    assert [tuple(r) for r in rows] == [("a", "nobody")]
    conn.close()
    assert version(path) == len(MIGRATIONS) + 1


def test_store_migration_failed_step_rolls_back(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store.open(path).close()
    broken = "CREATE TABLE extra (x INTEGER);\nINSERT INTO no_such_table VALUES (1);"
    conn = connect(path)
    with pytest.raises(sqlite3.OperationalError):
        migrate(conn, [*MIGRATIONS, broken])
    tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    conn.close()
    assert "extra" not in tables  # the half-done step left nothing behind
    assert version(path) == len(MIGRATIONS)


def test_store_migration_refuses_newer_database(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    Store.open(path).close()
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 3}")
    conn.close()
    with pytest.raises(SchemaTooNew, match="newer than this Symphony understands"):
        Store.open(path)


def test_store_migration_refuses_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"this is not a database, it is a text file" * 100)
    with pytest.raises(sqlite3.DatabaseError):
        Store.open(path)


def test_store_unparseable_stored_spec_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store.open(path) as store:
        record = store.create_deployment(parse_spec({"name": "a", "config": {"command": ["x"]}}))
        store._conn.execute(
            "UPDATE deployments SET spec = ? WHERE id = ?",
            ('{"name": "a", "config": {"command": "x"}}', record.id),
        )
        with pytest.raises(CorruptRecord, match=record.id):
            store.get_deployment("a")


def test_store_migration_v4_adds_node_drains_to_a_v3_database(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    conn = connect(path)
    migrate(conn, MIGRATIONS[:3])  # a database as the previous release left it
    conn.execute("INSERT INTO nodes VALUES ('n1', 'inc', 1.0)")
    conn.close()
    with Store.open(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store.get_node_incarnation("n1") == "inc"
        assert store.draining_nodes() == {}
        store.set_node_draining("n1", True)
        assert list(store.draining_nodes()) == ["n1"]
