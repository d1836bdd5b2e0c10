"""The store keeps every node id a join enrolled, and spends a token for a new node only
if its id is not enrolled (on SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from symphony.conductor.binding import JoinBinding
from symphony.conductor.store import MIGRATIONS, AlreadyExists, Store, migrate
from tests.pgserver import raw_db


def test_store_enrolment_refuses_a_known_id_and_changes_nothing(store_url: str) -> None:
    with Store.open_url(store_url) as store:
        store.add_join_token("t_any", "h", expires_at=None, single_use=False)
        store.add_join_token("t_other", "h", expires_at=None, single_use=False)
        assert store.use_join_token("t_any", "a", new_node=True) is not None
        with pytest.raises(AlreadyExists, match="node id 'a' is enrolled already"):
            store.use_join_token("t_other", "a", new_node=True)
        # The same token may enrol it again while no node said hello as it (a join
        # whose answer was lost); once one has, not even that token.
        assert store.use_join_token("t_any", "a", new_node=True) is not None
        store.set_node_incarnation("a", "inc")
        with pytest.raises(AlreadyExists, match="node id 'a' is enrolled already"):
            store.use_join_token("t_any", "a", new_node=True)
        store.set_node_incarnation("hello-only", "inc")  # a node that never joined
        with pytest.raises(AlreadyExists, match="'hello-only'"):
            store.use_join_token("t_any", "hello-only", new_node=True)
        store.add_join_token("t_once", "h", expires_at=None)
        with pytest.raises(AlreadyExists):
            store.use_join_token("t_once", "a", new_node=True)
        once = store.get_join_token("t_once")
        assert once is not None and once.used_at is None  # not spent by the refusal
        # A token that names the id (the caller knows) enrols it again.
        assert store.use_join_token("t_once", "a") is not None


def test_store_migration_v17_knows_the_ids_bound_before(store_url: str) -> None:
    conn = raw_db(store_url)
    migrate(conn, MIGRATIONS[:16])  # a database as the previous release left it
    conn.execute(
        "INSERT INTO node_bindings (node_id, binding, token_id, bound_at) "
        "VALUES ('gpu-7', '{\"node_id\": \"gpu-7\"}', 't_old', 5.0)"
    )
    conn.close()
    with Store.open_url(store_url) as store:
        assert store.schema_version == len(MIGRATIONS)
        assert store.get_node_binding("gpu-7") == JoinBinding(node_id="gpu-7")
        store.add_join_token("t_new", "h", expires_at=None)
        with pytest.raises(AlreadyExists, match="'gpu-7'"):
            store.use_join_token("t_new", "gpu-7", new_node=True)
