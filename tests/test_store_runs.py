"""The store's runs and last fires: durable across reopen, pruned to the history kept,
migrated in from the previous schema."""

from __future__ import annotations

from dataclasses import replace

from symphony.conductor.store import MIGRATIONS, RunMember, RunRecord, RunState, Store, migrate
from symphony.spec import parse_spec
from tests.pgserver import raw_db


def scheduled(store: Store) -> str:
    spec = parse_spec({"name": "nightly", "config": {"command": ["true"]}})
    return store.create_deployment(spec).id


def test_store_runs_kept_newest_first_and_pruned_to_history(store_url: str) -> None:
    with Store.open_url(store_url) as store:
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
    with Store.open_url(store_url) as store:
        runs = store.list_runs(dep)
        assert [r.number for r in runs] == [6, 5, 4, 3]  # the running one is never pruned
        assert runs[1].members == (RunMember(0, "i_5", "exited", 0),)
        assert runs[1].state is RunState.SUCCEEDED
        assert [r.number for r in store.list_runs(dep, active_only=True)] == [6]
        assert store.last_run_number(dep) == 6


def test_store_last_fire_is_durable_and_per_kind(store_url: str) -> None:
    with Store.open_url(store_url) as store:
        dep = scheduled(store)
        assert store.last_fire(dep, "run") is None
        store.set_last_fire(dep, "run", 120.0)
        store.set_last_fire(dep, "run", 180.0)
        store.set_last_fire(dep, "restart", 60.0)
    with Store.open_url(store_url) as store:
        assert store.last_fire(dep, "run") == 180.0
        assert store.last_fire(dep, "restart") == 60.0
        store.delete_deployment(dep)
        assert store.last_fire(dep, "run") is None
        assert store.list_runs(dep) == []


def test_store_runs_migrate_from_the_previous_schema(store_url: str) -> None:
    db = raw_db(store_url)
    migrate(db, MIGRATIONS[:7])  # a database written before the runs tables
    db.close()
    with Store.open_url(store_url) as store:
        assert store.schema_version == len(MIGRATIONS)
        dep = scheduled(store)
        store.save_run(RunRecord(dep, 1, 1.0, 2.0), keep=1)
        assert store.last_run_number(dep) == 1
