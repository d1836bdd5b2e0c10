"""A standby that takes over answers the requests it was forwarding; it never cuts them.

Two real Conductors sharing one SQLite store (in this Trio loop). The leader ``a`` has
a node linked (played by the test over a real link) that never answers log requests,
so a tail forwarded by the standby ``b`` waits at ``a``. The lease is then taken from
under ``a`` (as if it had expired), and ``b`` takes over while that tail is in flight:
its client gets an answer, a 503 that says the leader changed, with ``Retry-After``,
rather than a connection closed with no answer; a followed log that was streaming
through ``b`` ends as a stream ends.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import httpx
import trio

from symphony.conductor.store import Store
from symphony.wire import PROTOCOL_VERSION, LogRequest

from ..api.old_node import run_old_node
from ..link.cluster import wait_for
from .cluster import api, start_pair, wait_leader

QUIET = {
    "name": "quiet",
    "node_group": "gpu-1",
    "capacity_requests": {"Analytic1": 1},
    "config": {"command": ["sleep", "600"]},
}


async def test_a_request_the_standby_forwards_when_it_takes_over_is_answered(
    tmp_path: Path,
) -> None:
    db = tmp_path / "a" / "symphony.db"
    async with trio.open_nursery() as nursery:
        # A long lease: a does not notice for a while that it lost it; b tries every second.
        a, b = await start_pair(nursery, tmp_path, lease_seconds=30.0)
        await wait_leader(tmp_path / "a", db)
        seen: list[Any] = []
        node = partial(
            run_old_node, version=PROTOCOL_VERSION, capacities={"Analytic1": 10}, keep_all=True
        )
        await nursery.start(node, a, seen)  # answers no log request
        assert (await api(a.http_url, "POST", "/deployments", json=QUIET)).status_code == 201

        async def running() -> bool:
            found = (await api(a.http_url, "GET", "/deployments/quiet")).json()
            return found["instances"][0]["state"] == "running"

        await wait_for(running, timeout=10)
        answer: list[httpx.Response] = []
        followed: list[tuple[int, bytes]] = []

        async def tail() -> None:  # through b, to a, which waits for the node
            answer.append(await api(b.http_url, "GET", "/deployments/quiet/logs"))

        async def follow() -> None:
            async with (
                httpx.AsyncClient(timeout=10) as client,
                client.stream(
                    "GET", f"{b.http_url}/deployments/quiet/logs", params={"follow": "true"}
                ) as response,
            ):
                got = b"".join([data async for data in response.aiter_bytes()])
            followed.append((response.status_code, got))

        async with trio.open_nursery() as waiting:
            waiting.start_soon(tail)
            waiting.start_soon(follow)
            await wait_for(lambda: _asked(seen, 2), timeout=10)  # both are in flight
            with Store.open(db) as store:  # a's lease runs out (a paused, say)
                store._conn.execute("UPDATE leases SET expires_at = 0")
            taken_at = trio.current_time()
            with trio.fail_after(5):  # b's next try takes it: within a second
                await wait_leader(tmp_path / "b", db)
        (response,) = answer
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "1"
        assert response.headers["x-symphony-role"] == "standby"  # clients may try again
        assert "the leader changed" in response.json()["error"]
        assert trio.current_time() - taken_at < 3.0
        assert followed == [(200, b"")]  # ended cleanly (httpx raises on a cut stream)
        nursery.cancel_scope.cancel()


async def _asked(seen: list[Any], count: int) -> bool:
    return sum(isinstance(m, LogRequest) for m in seen) >= count
