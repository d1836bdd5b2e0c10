"""V15: a deployment keeps the generation of the change that last started it (stopped to
running), which a supervisor reading it back replaces older instances from (see
``deployments/carrying.py``); a database of the previous release opens with each
deployment counted as started at its current generation."""

from __future__ import annotations

from symphony.conductor.store import MIGRATIONS, Store
from symphony.spec import parse_spec
from tests.pgserver import old_database

SPEC = parse_spec({"name": "web", "config": {"command": ["sleep", "60"]}})


def test_store_v15_opens_a_v14_database_started_at_its_generation(store_url: str) -> None:
    db = old_database(store_url, 14, SPEC.to_dict(), generation=3)  # the previous release's
    db.commit()
    db.close()
    with Store.open_url(store_url) as store:
        assert store.schema_version == len(MIGRATIONS)
        record = store.get_deployment("web")
        assert record is not None and (record.generation, record.fresh_generation) == (3, 3)
        scaled = store.update_deployment("d_1", SPEC.patched({"replicas": 2}))
        assert (scaled.generation, scaled.fresh_generation) == (4, 3)


def test_store_a_start_moves_the_fresh_generation_and_nothing_else_does(store_url: str) -> None:
    with Store.open_url(store_url) as store:
        record = store.create_deployment(SPEC)
        assert record.fresh_generation == 1
        steps = [
            ({"replicas": 3}, 1),  # a setting: what runs is carried over
            ({"desired_state": "stopped"}, 1),
            ({"replicas": 2}, 1),  # while stopped
            ({"desired_state": "running"}, 5),  # started: generation 5 on
            ({"desired_state": "running"}, 5),  # running already: not a start
            ({"config": {"command": ["sleep", "61"]}}, 5),  # a version: told apart so
        ]
        for patch, fresh in steps:
            spec = record.spec.patched(patch)
            record = store.update_deployment(record.id, spec, version=None)
            assert record.fresh_generation == fresh, patch
            stored = store.get_deployment(record.id)
            assert stored is not None and stored.fresh_generation == fresh
