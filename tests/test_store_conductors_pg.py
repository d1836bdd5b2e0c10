"""Two real Conductors on one PostgreSQL database (in this Trio loop, real sockets and
TLS, a short lease): the standby forwards a create to the leader, a node runs the job,
and when the leader stops the standby takes over and adopts the node and its job, with
nothing restarted. The SQLite twin of this test is in ``tests/ha/test_leadership.py``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from tests.ha.cluster import api, conductor_name
from tests.ha.test_leadership import SLEEPER, running_pid
from tests.link.cluster import shared_cert_node, start_conductor, start_node, wait_for


@pytest.fixture
def pg_url(pg_server: Any) -> str:
    return str(pg_server.new_database())


def lease_holder(url: str) -> str | None:
    import psycopg

    with psycopg.connect(url) as conn:
        row = conn.execute("SELECT holder FROM leases WHERE name = 'conductor'").fetchone()
    return None if row is None else str(row[0])


async def test_store_conductors_on_postgresql_fail_over_adopting_the_job(
    pg_url: str, tmp_path: Path
) -> None:
    common: dict[str, Any] = {"http_auth": "none", "store_url": pg_url, "lease_seconds": 3.0}
    async with trio.open_nursery() as outer:
        leader_scope = trio.CancelScope()

        async def run_a(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            with leader_scope:
                async with trio.open_nursery() as inner:
                    task_status.started(await start_conductor(inner, tmp_path / "a", **common))

        a = await outer.start(run_a)
        # b is given a's CA and secrets key (shared material), its own state directory.
        shared = {"cert_path": tmp_path / "a" / "certs"}
        shared["secrets_key_file"] = tmp_path / "a" / "secrets.key"
        b = await start_conductor(outer, tmp_path / "b", **common, **shared)
        a_name = conductor_name(tmp_path / "a")
        await wait_for(lambda: trio.to_thread.run_sync(lease_holder, pg_url), timeout=15)
        assert await trio.to_thread.run_sync(lease_holder, pg_url) == a_name

        created = await api(b.http_url, "POST", "/deployments", json=SLEEPER)
        assert created.status_code == 201, created.text
        assert created.headers["x-symphony-role"] == "standby"
        node = shared_cert_node(
            a,
            "n1",
            tmp_path / "n1",
            conductor_port=a.node_port,
            conductor_alternates=(f"localhost:{b.node_port}",),
        )
        await start_node(outer, node)
        pid = await wait_for(lambda: running_pid(a.http_url), timeout=30)

        leader_scope.cancel()  # a clean stop gives the lease up at once
        b_name = conductor_name(tmp_path / "b")

        async def b_leads() -> bool:
            return await trio.to_thread.run_sync(lease_holder, pg_url) == b_name

        await wait_for(b_leads, timeout=15)
        assert await wait_for(lambda: running_pid(b.http_url), timeout=30) == pid
        response = await api(b.http_url, "GET", "/deployments/sleeper")
        assert "x-symphony-role" not in response.headers  # b answers itself now
        assert response.json()["instances"][0]["restarts"] == 0
        outer.cancel_scope.cancel()
