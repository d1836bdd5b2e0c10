"""Schema versioning: fresh databases, later steps, failed steps, newer databases,
Conductors migrating one database at once. Tests taking ``store_url`` run on SQLite and
on PostgreSQL."""

from __future__ import annotations

import sqlite3
import threading
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
from tests.pgserver import raw_db


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


def db_version(url: str) -> int:
    db = raw_db(url)
    try:
        return db.schema_version()
    finally:
        db.close()


def test_store_migration_fresh_database_reaches_latest(store_url: str) -> None:
    assert db_version(store_url) == 0
    Store.open_url(store_url).close()
    assert db_version(store_url) == len(MIGRATIONS)
    Store.open_url(store_url).close()  # reopening an up-to-date database is a no-op
    assert db_version(store_url) == len(MIGRATIONS)


def test_store_migration_later_step_keeps_data(store_url: str) -> None:
    with Store.open_url(store_url) as store:
        store.create_deployment(parse_spec({"name": "a", "config": {"command": ["true"]}}))
    step2 = "ALTER TABLE deployments ADD COLUMN owner TEXT NOT NULL DEFAULT 'nobody';"
    conn = raw_db(store_url)
    assert migrate(conn, [*MIGRATIONS, step2]) == len(MIGRATIONS) + 1
    rows = conn.execute("SELECT name, owner FROM deployments").fetchall()
    assert [tuple(r) for r in rows] == [("a", "nobody")]
    conn.close()
    assert db_version(store_url) == len(MIGRATIONS) + 1


def test_store_migration_failed_step_rolls_back(store_url: str) -> None:
    Store.open_url(store_url).close()
    broken = "CREATE TABLE extra (x INTEGER);\nINSERT INTO no_such_table VALUES (1);"
    conn = raw_db(store_url)
    with pytest.raises(Exception, match="no_such_table"):
        migrate(conn, [*MIGRATIONS, broken])
    assert conn.schema_version() == len(MIGRATIONS)
    # The half-done step left nothing behind: the same step runs whole now.
    fixed = "CREATE TABLE extra (x INTEGER);"
    assert migrate(conn, [*MIGRATIONS, fixed]) == len(MIGRATIONS) + 1
    conn.close()


def test_store_migration_refuses_newer_database(store_url: str) -> None:
    Store.open_url(store_url).close()
    conn = raw_db(store_url)
    conn.begin_write()
    conn.set_schema_version(len(MIGRATIONS) + 3)
    conn.commit()
    conn.close()
    with pytest.raises(SchemaTooNew, match="newer than this Symphony understands"):
        Store.open_url(store_url)


def test_store_migration_conductors_starting_together_run_each_step_once(
    store_url: str,
) -> None:
    # Four Conductors open one new database at the same moment: each step must run
    # once (a second CREATE TABLE would fail), and every one of them must get a store.
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def open_one() -> None:
        start.wait()
        try:
            Store.open_url(store_url).close()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []
    assert db_version(store_url) == len(MIGRATIONS)


def test_store_migration_refuses_a_file_that_is_not_sqlite(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    path.write_bytes(b"this is not a database, it is a text file" * 100)
    with pytest.raises(sqlite3.DatabaseError):
        Store.open(path)


def test_store_unparseable_stored_spec_is_reported(store_url: str) -> None:
    with Store.open_url(store_url) as store:
        record = store.create_deployment(parse_spec({"name": "a", "config": {"command": ["x"]}}))
        store._conn.execute(
            "UPDATE deployments SET spec = ? WHERE id = ?",
            ('{"name": "a", "config": {"command": "x"}}', record.id),
        )
        with pytest.raises(CorruptRecord, match=record.id):
            store.get_deployment("a")


def test_store_migration_v4_adds_node_drains_to_a_v3_database(store_url: str) -> None:
    conn = raw_db(store_url)
    migrate(conn, MIGRATIONS[:3])  # a database as the previous release left it
    conn.execute("INSERT INTO nodes VALUES ('n1', 'inc', 1.0)")
    conn.close()
    with Store.open_url(store_url) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store.get_node_incarnation("n1") == "inc"
        assert store.draining_nodes() == {}
        store.set_node_draining("n1", True)
        assert list(store.draining_nodes()) == ["n1"]
