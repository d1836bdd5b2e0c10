"""A leader that steps down answers the requests it is serving; it never cuts them.

Two real Conductors sharing one SQLite store (in this Trio loop). The leader ``a`` has
a node linked (played by the test over a real link) that never answers log requests,
so a tail and a followed log wait at ``a``; a web UI's ``/live`` stream is open there,
and a create has sent half its body. Then ``a``'s lease runs out under it (as if it had
been paused): the standby ``b`` takes it, ``a``'s next renewal finds it gone and ``a``
steps down. Each request gets an answer, as ha.md says, rather than a connection closed
with none: the tail a 503 with ``Retry-After`` and the standby header (a client tries
the next URL), the streams a last line or event that says why, the create a 503 too
(nothing of it was written). Then ``b`` leads, and ``a`` forwards to it.
"""

from __future__ import annotations

import json
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import trio

from symphony.conductor.store import Store

from ..inflight import QUIET, InFlight, asked, deploy_quiet, silent_node
from ..link.cluster import wait_for
from .cluster import api, start_pair, wait_leader

LATE = {**QUIET, "name": "late"}


async def test_a_leader_that_steps_down_answers_what_it_is_serving(tmp_path: Path) -> None:
    db = tmp_path / "a" / "symphony.db"
    async with trio.open_nursery() as nursery:
        # A short lease: a renews every second, and so finds soon that it lost it.
        a, _standby = await start_pair(nursery, tmp_path, lease_seconds=3.0)
        await wait_leader(tmp_path / "a", db)
        seen: list[Any] = []
        # It answers no log request; its link ends when a steps down.
        await nursery.start(silent_node, a, seen)
        await deploy_quiet(a.http_url)
        flight = InFlight()
        async with trio.open_nursery() as waiting:
            waiting.start_soon(flight.tail, a.http_url, "quiet")  # waits at a for the node
            waiting.start_soon(flight.follow, a.http_url, "quiet")
            waiting.start_soon(flight.live, a.http_url)
            # Half a body, and no more: a waits for the rest.
            create = partial(flight.create_in_parts, first=1, send_rest=False)
            waiting.start_soon(create, a.http_url, json.dumps(LATE).encode())
            await wait_for(lambda: asked(seen, 2), timeout=10)  # the tail and the follow
            await flight.opened()
            with Store.open(db) as store:  # a's lease runs out (a paused, say)
                store._conn.execute("UPDATE leases SET expires_at = 0")
            taken_at = trio.current_time()
            with trio.fail_after(10):
                await wait_leader(tmp_path / "b", db)
        answered_in = trio.current_time() - taken_at
        answers = flight.answers

        tail_answer = answers["tail"]
        assert tail_answer.status_code == 503, tail_answer.text
        assert tail_answer.headers["retry-after"] == "1"
        assert tail_answer.headers["x-symphony-role"] == "standby"  # clients try the next
        assert tail_answer.json()["error"] == "this Conductor is no longer the leader"
        assert "stopped leading" in tail_answer.json()["detail"]

        status, body = answers["follow"]  # ended cleanly (httpx raises on a cut stream)
        assert status == 200
        assert (
            body.endswith(b"\n")
            and b"[symphony] this Conductor stopped leading" in (body.splitlines()[-1])
        ), body

        status, event, data = flight.live_ended()
        assert status == 200
        assert event == "event: closing", answers["live"]
        assert "stopped leading" in data["reason"]

        head, _, created = answers["create"].partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 503 "), answers["create"]
        assert b"x-symphony-role: standby" in head.lower()
        assert b"nothing was applied" in created
        with Store.open(db) as reader:
            assert [d.name for d in reader.list_deployments()] == ["quiet"]

        # Within a lease of the expiry (a's next renewal), plus the grace: not cut later.
        assert answered_in < 3.0 + 2.0

        async def forwarding() -> bool:  # a stands by now, forwarding to b
            try:
                response = await api(a.http_url, "GET", "/deployments/quiet")
            except httpx.TransportError:  # between a's two roles its port is closed
                return False
            return (
                response.status_code == 200 and response.headers.get("x-symphony-role") == "standby"
            )

        await wait_for(forwarding, timeout=20)
        nursery.cancel_scope.cancel()


async def test_a_leader_whose_write_is_fenced_answers_it_and_stands_by(tmp_path: Path) -> None:
    db = tmp_path / "a" / "symphony.db"
    async with trio.open_nursery() as nursery:
        a, _standby = await start_pair(nursery, tmp_path, lease_seconds=30.0)
        await wait_leader(tmp_path / "a", db)
        seen: list[Any] = []
        await nursery.start(silent_node, a, seen)
        assert (await api(a.http_url, "POST", "/deployments", json=QUIET)).status_code == 201
        with Store.open(db) as intruder:  # takes the lease as if a's had run out
            intruder._conn.execute("UPDATE leases SET expires_at = 0")
            intruder.acquire_lease("conductor", "intruder", seconds=3600)
        # The write is refused inside its transaction, and a steps down at once: the
        # actor whose write it was ends as the tree is cancelled, which must not take
        # the Conductor down with it.
        response = await api(a.http_url, "POST", "/deployments", json=LATE)
        assert response.status_code == 503, response.text
        assert response.headers["x-symphony-role"] == "standby"
        assert response.json()["error"] == "this Conductor is no longer the leader"

        async def standing_by() -> bool:  # the intruder's API is unknown: a 503 of a standby
            try:
                response = await api(a.http_url, "GET", "/deployments")
            except httpx.TransportError:
                return False
            return response.status_code == 503 and "standby" in response.json()["error"]

        await wait_for(standing_by, timeout=10)
        with Store.open(db) as reader:
            assert [d.name for d in reader.list_deployments()] == ["quiet"]
        nursery.cancel_scope.cancel()
