"""V14: the index of instances by node leaves out the instances on no node (pending),
which no query of it looks for; a database of the previous release opens and reads
the same."""

from __future__ import annotations

from pathlib import Path

from symphony.conductor.store import MIGRATIONS, InstanceRecord, Store
from symphony.spec import parse_spec
from tests.pgserver import old_database

SPEC = parse_spec({"name": "web", "config": {"command": ["sleep", "60"]}})


def test_store_v14_reads_a_v13_database_the_same(store_url: str) -> None:
    db = old_database(store_url, 13, SPEC.to_dict())  # as the previous release left it
    for iid, replica, node in (("web-0-a", 0, "n1"), ("web-1-b", 1, None), ("web-2-c", 2, "n1")):
        db.execute(
            "INSERT INTO instances (id, deployment_id, replica, node_id, state, generation, "
            "updated_at) VALUES (?, 'd_1', ?, ?, 'pending', 1, 2.0)",
            (iid, replica, node),
        )
    db.commit()
    db.close()
    with Store.open_url(store_url) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert [i.id for i in store.list_instances(node_id="n1")] == ["web-0-a", "web-2-c"]
        assert [i.id for i in store.list_instances()] == ["web-0-a", "web-1-b", "web-2-c"]
        assert [i.id for i in store.list_instances(node_id="n2")] == []
        pending = store.get_instance("web-1-b")
        assert pending is not None and pending.node_id is None
        store.upsert_instance(InstanceRecord("web-1-b", "d_1", 1, node_id="n2"))
        assert [i.id for i in store.list_instances(node_id="n2")] == ["web-1-b"]


def test_store_index_by_node_holds_placed_instances_only(tmp_path: Path) -> None:
    with Store.open(tmp_path / "symphony.db") as store:
        d = store.create_deployment(SPEC)
        store.upsert_instances(
            [InstanceRecord("web-0-a", d.id, 0), InstanceRecord("web-1-b", d.id, 1, node_id="n1")]
        )
        raw = store._conn.raw  # type: ignore[attr-defined]
        (sql,) = raw.execute(
            "SELECT sql FROM sqlite_master WHERE name = 'instances_by_node'"
        ).fetchone()
        assert sql.endswith("WHERE node_id IS NOT NULL")
        plan = raw.execute(
            "EXPLAIN QUERY PLAN SELECT id FROM instances WHERE node_id = ? "
            "ORDER BY deployment_id, replica, id",
            ("n1",),
        ).fetchall()
        assert any("instances_by_node" in row[-1] for row in plan), plan
        assert [i.id for i in store.list_instances(node_id="n1")] == ["web-1-b"]
