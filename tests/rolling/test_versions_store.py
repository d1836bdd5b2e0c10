"""Versions in the store: which change makes one, the last ten kept, the migration."""

from __future__ import annotations

import json

import pytest

from symphony.conductor.deployments.versions import rollback_target, version_of
from symphony.conductor.store import KEEP_VERSIONS, MIGRATIONS, DeploymentRecord, Store, migrate
from symphony.spec import parse_spec
from tests.pgserver import raw_db

SEED = {"name": "web", "config": {"command": ["sleep", "1"]}}


def change(store: Store, name: str, patch: dict[str, object]) -> int:
    """Apply ``patch`` as the Deployments actor does; the version it runs after."""
    record = store.get_deployment(name)
    assert record is not None
    spec = record.spec.patched(patch)
    version = version_of(store, record, spec)
    return store.update_deployment(record.id, spec, version=version).version


def test_versions_only_a_template_change_makes_one(store_url: str) -> None:
    with Store.open_url(store_url) as store:
        record = store.create_deployment(parse_spec(SEED))
        assert record.version == 1
        assert change(store, "web", {"replicas": 3}) == 1
        assert change(store, "web", {"desired_state": "stopped"}) == 1
        assert change(store, "web", {"update": {"max_surge": 0, "canary": 1}}) == 1
        assert change(store, "web", {"config": {"env": {"A": "1"}}}) == 2
        assert change(store, "web", {"health_check": {"type": "tcp", "port": 80}}) == 3
        # The template of a kept version is that version again, not a new one.
        assert change(store, "web", {"config": {"env": None}, "health_check": None}) == 1
        kept = store.list_versions(record.id)
        assert [v.version for v in kept] == [1, 3, 2]  # the most recently current first


def test_versions_the_last_ten_are_kept(store_url: str) -> None:
    with Store.open_url(store_url) as store:
        record = store.create_deployment(parse_spec(SEED))
        for n in range(2, 15):
            assert change(store, "web", {"config": {"command": ["sleep", str(n)]}}) == n
        kept = [v.version for v in store.list_versions(record.id)]
        assert len(kept) == KEEP_VERSIONS and kept == list(range(14, 4, -1))
        assert isinstance(rollback_target(store.list_versions(record.id), 14, 2), str)
        assert rollback_target(store.list_versions(record.id), 14, 14) == (
            "version 14 is the current one"
        )
        target = rollback_target(store.list_versions(record.id), 14, None)
        assert not isinstance(target, str) and target.version == 13


def test_versions_migration_gives_existing_deployments_a_good_version_1(store_url: str) -> None:
    conn = raw_db(store_url)
    migrate(conn, MIGRATIONS[:6])  # a database from before versions
    spec = json.dumps(parse_spec(SEED).to_dict())
    conn.execute(
        "INSERT INTO deployments (id, name, spec, desired_state, generation, created_at, "
        "updated_at) VALUES ('d_1', 'web', ?, 'running', 4, 1.0, 2.0)",
        (spec,),
    )
    conn.close()
    with Store.open_url(store_url) as store:
        record = store.get_deployment("web")
        assert record is not None and (record.version, record.roll_state) == (1, None)
        (version,) = store.list_versions("d_1")
        assert (version.version, version.status, version.spec) == (1, "good", record.spec)
        assert change(store, "web", {"config": {"command": ["sleep", "2"]}}) == 2


def test_versions_migration_ends_the_statuses_of_rolls_that_ended_unfinished(
    store_url: str,
) -> None:
    """A database of a release that copied a roll's state into its version's status and
    left it so: a version not current whose roll a newer change ended is superseded
    (never ``rolling`` or ``canary`` for ever); one a revert went back to was good, and
    is again; the current one rolls, as its roll state says."""
    conn = raw_db(store_url)
    migrate(conn, MIGRATIONS[:17])  # a database as the previous release left it
    spec = json.dumps(parse_spec(SEED).to_dict())
    for deployment, current, statuses in (
        (
            "d_1",
            6,
            {1: "good", 2: "reverting", 3: "canary", 4: "rolling", 5: "failed", 6: "promoted"},
        ),
        ("d_2", 2, {1: "promoted", 2: "reverting"}),
        ("d_3", 2, {1: "good", 2: "canary"}),
    ):
        conn.execute(
            "INSERT INTO deployments (id, name, spec, desired_state, generation, created_at, "
            "updated_at, version, roll_state) VALUES (?, ?, ?, 'running', 9, 1.0, 2.0, ?, ?)",
            (deployment, deployment, spec, current, "promoted"),
        )
        for version, status in statuses.items():
            conn.execute(
                "INSERT INTO deployment_versions (deployment_id, version, spec, status, "
                "created_at, used_at) VALUES (?, ?, ?, ?, ?, ?)",
                (deployment, version, spec, status, float(version), float(version)),
            )
    conn.close()
    with Store.open_url(store_url) as store:
        assert store.schema_version == len(MIGRATIONS)
        now = {
            d: {v.version: v.status for v in store.list_versions(d)} for d in ("d_1", "d_2", "d_3")
        }
        assert now["d_1"] == {
            1: "good",
            2: "good",
            3: "superseded",
            4: "superseded",
            5: "failed",
            6: "rolling",
        }
        assert now["d_2"] == {1: "superseded", 2: "good"}
        assert now["d_3"] == {1: "good", 2: "canary"}
        target = rollback_target(store.list_versions("d_1"), 6, None)
        assert not isinstance(target, str) and target.version == 2  # the last good one


def test_rollback_by_default_skips_a_version_that_failed(store_url: str) -> None:
    """After a failed roll was reverted, "the version current before" is the one that
    failed: going "back" to it by default repeated the failure. The default is the most
    recent version that did not fail; a failed one is still there to name."""
    with Store.open_url(store_url) as store:
        record = store.create_deployment(parse_spec(SEED))
        assert change(store, "web", {"config": {"command": ["sleep", "2"]}}) == 2
        assert change(store, "web", {"config": {"command": ["sleep", "3"]}}) == 3
        store.set_version_status(record.id, 3, "failed", "not healthy within 120 s")
        assert change(store, "web", {"config": {"command": ["sleep", "2"]}}) == 2  # reverted
        versions = store.list_versions(record.id)
        assert [v.version for v in versions] == [2, 3, 1]
        target = rollback_target(versions, 2, None)
        assert not isinstance(target, str) and target.version == 1
        named = rollback_target(versions, 2, 3)
        assert not isinstance(named, str) and named.version == 3
        # Only failed ones to go back to: say so, and how to name one anyway.
        store.set_version_status(record.id, 1, "failed", "late")
        assert rollback_target(store.list_versions(record.id), 2, None) == (
            "no earlier version kept is good (3 failed, 1 failed): name one to go back to it anyway"
        )


def _forgetting(url: str, *, fails: bool) -> None:
    """Make every delete of a kept version fail (as a crash half-way through would
    stop the rest), or work again."""
    sqlite = url.startswith("sqlite")
    conn = raw_db(url)
    if not fails:
        conn.execute("DROP TRIGGER no_forget" + ("" if sqlite else " ON deployment_versions"))
    elif sqlite:
        conn.execute(
            "CREATE TRIGGER no_forget BEFORE DELETE ON deployment_versions "
            "BEGIN SELECT RAISE(ABORT, 'no forgetting'); END"
        )
    else:
        conn.execute(
            "CREATE FUNCTION no_forget() RETURNS trigger AS "
            "$$ BEGIN RAISE EXCEPTION 'no forgetting'; END $$ LANGUAGE plpgsql"
        )
        conn.execute(
            "CREATE TRIGGER no_forget BEFORE DELETE ON deployment_versions "
            "FOR EACH ROW EXECUTE FUNCTION no_forget()"
        )
    conn.close()


def _restarting(store: Store) -> DeploymentRecord:
    """A deployment in a rolling restart: version 2 (a copy of 1) promoted, rolling."""
    record = store.create_deployment(parse_spec(SEED))
    store.update_deployment(
        record.id, record.spec, version=2, roll_state="promoted", roll_reason="restart"
    )
    return record


def test_finishing_a_roll_is_one_transaction(store_url: str) -> None:
    # A restart's roll ends: no roll, its version good, the one restarted forgotten. All
    # or nothing: a Conductor stopped half-way must not keep the restarted one for ever.
    with Store.open_url(store_url) as store:
        record = _restarting(store)
        _forgetting(store_url, fails=True)
        with pytest.raises(Exception, match="no forgetting"):
            store.finish_roll(record.id, 2, [1], generation=2)
        after = store.get_deployment(record.id)
        assert after is not None and after.roll_state == "promoted"
        kept = {v.version: v.status for v in store.list_versions(record.id)}
        assert kept == {1: "good", 2: "rolling"}
        _forgetting(store_url, fails=False)
        store.finish_roll(record.id, 2, [1], generation=2)
        after = store.get_deployment(record.id)
        assert after is not None and after.roll_state is None and after.roll_reason is None
        [version] = store.list_versions(record.id)
        assert (version.version, version.status) == (2, "good")


def test_a_rollback_forgets_the_restarts_copy_in_its_own_transaction(store_url: str) -> None:
    # A rollback that ends a rolling restart (version 2, a copy of 1) goes back to 1 and
    # forgets 2 in the same write: all or nothing.
    with Store.open_url(store_url) as store:
        record = _restarting(store)
        _forgetting(store_url, fails=True)
        with pytest.raises(Exception, match="no forgetting"):
            store.update_deployment(record.id, record.spec, version=1, forget=2)
        after = store.get_deployment(record.id)
        assert after is not None and after.version == 2
        _forgetting(store_url, fails=False)
        back = store.update_deployment(record.id, record.spec, version=1, forget=2)
        assert back.version == 1
        assert [v.version for v in store.list_versions(record.id)] == [1]


def test_a_roll_writes_nothing_of_its_state_once_a_newer_change_is_stored(
    store_url: str,
) -> None:
    # Version 2 rolls under generation 2; version 3 is stored as rolling (generation 3)
    # before 2's roll ends. The old roll must not clear or pause the new one's state: a
    # supervisor restarted would see no roll and replace every instance at once.
    with Store.open_url(store_url) as store:
        record = store.create_deployment(parse_spec(SEED))
        old = store.update_deployment(record.id, record.spec, version=2, roll_state="rolling")
        store.update_deployment(record.id, record.spec, version=3, roll_state="rolling")
        assert not store.set_roll(record.id, "paused", "failed", generation=old.generation)
        assert not store.finish_roll(record.id, 2, [1], generation=old.generation)
        after = store.get_deployment(record.id)
        assert after is not None and (after.roll_state, after.roll_reason) == ("rolling", None)
        kept = {v.version: v.status for v in store.list_versions(record.id)}
        assert kept == {1: "good", 2: "good", 3: "rolling"}  # 2 proved healthy; 1 kept
        assert store.set_roll(record.id, "paused", "failed", generation=after.generation)
        assert store.finish_roll(record.id, 3, [], generation=after.generation)


def test_a_versions_failure_is_written_only_under_its_rolls_generation(store_url: str) -> None:
    # Version 2 rolls under generation 2 and fails; a rollback to version 2 was stored
    # meanwhile (generation 3): the old roll's failure must not mark the new roll's
    # version failed (a restarted supervisor would read it back and revert).
    with Store.open_url(store_url) as store:
        record = store.create_deployment(parse_spec(SEED))
        old = store.update_deployment(record.id, record.spec, version=2, roll_state="rolling")
        new = store.update_deployment(record.id, record.spec, version=2, roll_state="rolling")
        written = store.set_version_status(
            record.id, 2, "failed", "crashed", generation=old.generation
        )
        assert not written
        assert {v.version: v.status for v in store.list_versions(record.id)}[2] == "rolling"
        assert store.set_version_status(
            record.id, 2, "failed", "crashed", generation=new.generation
        )
        (two,) = [v for v in store.list_versions(record.id) if v.version == 2]
        assert (two.status, two.reason) == ("failed", "crashed")
