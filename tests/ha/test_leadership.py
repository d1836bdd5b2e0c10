"""Leadership between two real Conductors sharing one store (in this Trio loop, real
sockets and TLS, a short lease): one leads, the other refuses nodes and forwards the
API, and takes over, adopting nodes and jobs, when the leader stops or loses the lease."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import trio

from symphony.conductor.store import Store

from ..api.test_api_errors import raw_request
from ..link.cluster import shared_cert_node, start_node, wait_for
from ..ui.test_live import live
from .cluster import (
    api,
    conductor_name,
    lease_holder,
    start_first,
    start_pair,
    start_second,
    wait_leader,
)

SLEEPER = {
    "name": "sleeper",
    "node_group": "gpu-1",
    "capacity_requests": {"Analytic1": 1},
    "kind": "exec",
    "config": {"command": ["sleep", "600"]},
}


async def running_pid(url: str) -> int | None:
    try:
        response = await api(url, "GET", "/deployments/sleeper")
    except httpx.ConnectError:  # between roles: one listener closed, the next not open
        return None
    if response.status_code != 200:
        return None
    instances = response.json()["instances"]
    ok = instances and instances[0]["state"] == "running"
    return instances[0]["pid"] if ok else None


async def test_standby_forwards_then_takes_over_adopting_nodes_and_jobs(tmp_path: Path) -> None:
    db = tmp_path / "a" / "symphony.db"
    async with trio.open_nursery() as outer:
        leader_scope = trio.CancelScope()

        async def run_a(task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
            with leader_scope:
                async with trio.open_nursery() as inner:
                    task_status.started(await start_first(inner, tmp_path, lease_seconds=3.0))

        a = await outer.start(run_a)
        b = await start_second(outer, tmp_path, lease_seconds=3.0)
        await wait_leader(tmp_path / "a", db)

        # The standby answers through the leader: a write lands in the shared store.
        created = await api(b.http_url, "POST", "/deployments", json=SLEEPER)
        assert created.status_code == 201, created.text
        assert created.headers["x-symphony-role"] == "standby"
        # A body past the leader's limit is streamed on, not held: the leader's 413.
        # (Over a plain socket: see raw_request.)
        async with httpx.AsyncClient(base_url=b.http_url) as plain:
            status, body = await raw_request(plain, "POST", "/deployments", b"x" * (3 << 20))
        assert status == 413, body
        # A node listing the standby first is refused there and links to the leader.
        node = shared_cert_node(
            a,
            "n1",
            tmp_path / "n1",
            conductor_port=b.node_port,
            conductor_alternates=(f"localhost:{a.node_port}",),
        )
        await start_node(outer, node)
        pid = await wait_for(lambda: running_pid(a.http_url), timeout=20)
        assert await running_pid(b.http_url) == pid  # a read that the standby forwards
        # Reads that need the node links, through the standby: logs, and a live stream.
        logs = await api(b.http_url, "GET", "/deployments/sleeper/logs")
        assert (logs.status_code, logs.headers["x-symphony-role"]) == (200, "standby")
        async with live(b.http_url, None) as (response, sse):
            assert response.headers["content-type"].startswith("text/event-stream")
            assert response.headers["x-symphony-role"] == "standby"
            assert (await sse.next())[0] == "snapshot"

        leader_scope.cancel()  # a clean stop gives the lease up at once
        await wait_leader(tmp_path / "b", db, timeout=10)
        assert lease_holder(db)[0] == conductor_name(tmp_path / "b")  # type: ignore[index]

        async def adopted() -> bool:
            try:
                response = await api(b.http_url, "GET", "/nodes")
            except httpx.ConnectError:  # between its two roles b's port is closed a moment
                return False
            if response.status_code == 503:
                # No leader to forward to yet, or b is taking over: either way an answer
                # (a request b had taken is never cut), and one that says to retry.
                assert response.headers["retry-after"] == "1", response.text
                return False
            nodes = response.json()["nodes"]
            return bool(nodes) and nodes[0]["state"] == "ready"

        await wait_for(adopted, timeout=20)
        assert await wait_for(lambda: running_pid(b.http_url), timeout=20) == pid
        response = await api(b.http_url, "GET", "/deployments/sleeper")
        assert "x-symphony-role" not in response.headers  # b answers itself now
        assert response.json()["instances"][0]["restarts"] == 0
        outer.cancel_scope.cancel()


async def test_leader_that_lost_its_lease_steps_down_and_is_fenced(tmp_path: Path) -> None:
    db = tmp_path / "a" / "symphony.db"
    async with trio.open_nursery() as nursery:
        # A long lease: a renews every 10 s, so it still believes it leads for a while
        # after the lease is taken from under it.
        a, _standby = await start_pair(nursery, tmp_path, lease_seconds=30.0)
        await wait_leader(tmp_path / "a", db)
        # A third party takes the lease as if a's had expired (a paused, say).
        with Store.open(db) as intruder:
            intruder._conn.execute("UPDATE leases SET expires_at = 0")
            taken = intruder.acquire_lease("conductor", "intruder", seconds=3600)
        assert taken.holder == "intruder"
        # a's write is refused inside its transaction (fenced): nothing is stored.
        response = await api(a.http_url, "POST", "/deployments", json=SLEEPER)
        assert response.status_code == 503, response.text
        assert response.headers["x-symphony-role"] == "standby"  # clients try the next
        # ("no longer the leader" when the fence refused it; "standby" if a's renewal
        # came first and it had stood down already: neither applies the write.)
        assert response.json()["error"] in {
            "this Conductor is no longer the leader",
            "this Conductor is a standby",
        }
        with Store.open(db) as reader:
            assert reader.list_deployments() == []

        # At its next renewal a stands by: its API forwards (and with the intruder's
        # API unknown, says so), it writes nothing.
        async def standing_by() -> bool:
            try:
                response = await api(a.http_url, "GET", "/deployments")
            except httpx.ConnectError:
                return False
            return response.status_code == 503 and "standby" in response.json()["error"]

        await wait_for(standing_by, timeout=30)
        assert lease_holder(db) == ("intruder", taken.token)
        nursery.cancel_scope.cancel()
