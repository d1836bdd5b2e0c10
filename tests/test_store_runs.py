"""The store's runs and last fires: durable across reopen, pruned to the history kept,
migrated in from the previous schema."""

from __future__ import annotations

import sqlite3
from dataclasses import replace
from pathlib import Path

from symphony.conductor.store import MIGRATIONS, RunMember, RunRecord, RunState, Store, migrate
from symphony.spec import parse_spec


def scheduled(store: Store) -> str:
    spec = parse_spec({"name": "nightly", "config": {"command": ["true"]}})
    return store.create_deployment(spec).id


def test_store_runs_kept_newest_first_and_pruned_to_history(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store.open(path) as store:
        dep = scheduled(store)
        for number in range(1, 6):
            run = RunRecord(dep, number, 60.0 * number, 60.0 * number + 1, (RunMember(0),))
            store.save_run(run, keep=3)
            done = replace(
                run,
                state=RunState.SUCCEEDED,
                finished_at=60.0 * number + 5,
                members=(RunMember(0, f"i_{number}", "exited", 0),),
            )
            store.save_run(done, keep=3)
        store.save_run(RunRecord(dep, 6, 360.0, 361.0, (RunMember(0),)), keep=3)
    with Store.open(path) as store:
        runs = store.list_runs(dep)
        assert [r.number for r in runs] == [6, 5, 4, 3]  # the running one is never pruned
        assert runs[1].members == (RunMember(0, "i_5", "exited", 0),)
        assert runs[1].state is RunState.SUCCEEDED
        assert [r.number for r in store.list_runs(dep, active_only=True)] == [6]
        assert store.last_run_number(dep) == 6


def test_store_last_fire_is_durable_and_per_kind(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    with Store.open(path) as store:
        dep = scheduled(store)
        assert store.last_fire(dep, "run") is None
        store.set_last_fire(dep, "run", 120.0)
        store.set_last_fire(dep, "run", 180.0)
        store.set_last_fire(dep, "restart", 60.0)
    with Store.open(path) as store:
        assert store.last_fire(dep, "run") == 180.0
        assert store.last_fire(dep, "restart") == 60.0
        store.delete_deployment(dep)
        assert store.last_fire(dep, "run") is None
        assert store.list_runs(dep) == []


def test_store_runs_migrate_from_the_previous_schema(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path, isolation_level=None)
    migrate(conn, MIGRATIONS[:-1])
    conn.close()
    with Store.open(path) as store:
        assert store.schema_version == len(MIGRATIONS)
        dep = scheduled(store)
        store.save_run(RunRecord(dep, 1, 1.0, 2.0), keep=1)
        assert store.last_run_number(dep) == 1
