"""A standby that takes over answers the requests it was forwarding; it never cuts them.

Two real Conductors sharing one SQLite store (in this Trio loop). The leader ``a`` has
a node linked (played by the test over a real link) that never answers log requests,
so a tail forwarded by the standby ``b`` waits at ``a``. The lease is then taken from
under ``a`` (as if it had expired), and ``b`` takes over while that tail is in flight:
its client gets an answer, a 503 that says the leader changed, with ``Retry-After``,
rather than a connection closed with no answer; a followed log that was streaming
through ``b`` ends as a stream ends, at once (it does not wait out the tail's grace).
A change that the old leader had when ``b`` took over gets a 502 instead: it may have
been applied, so clients must not repeat it on
their own (as they would a 503 from a standby).
"""

from __future__ import annotations

import contextlib
from functools import partial
from pathlib import Path
from typing import Any

import httpx
import psutil
import trio

from symphony.conductor.api.forward import HANDOVER_GRACE
from symphony.conductor.store import Store
from symphony.wire import PROTOCOL_VERSION

from ..api.old_node import run_old_node
from ..inflight import InFlight, asked, deploy_quiet
from ..link.cluster import wait_for
from .cluster import start_pair, wait_leader


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
        await deploy_quiet(a.http_url)
        flight = InFlight()
        async with trio.open_nursery() as waiting:
            waiting.start_soon(flight.tail, b.http_url, "quiet")  # through b, to a
            waiting.start_soon(flight.follow, b.http_url, "quiet")
            await wait_for(lambda: asked(seen, 2), timeout=10)  # both are in flight
            with Store.open(db) as store:  # a's lease runs out (a paused, say)
                store._conn.execute("UPDATE leases SET expires_at = 0")
            taken_at = trio.current_time()
            with trio.fail_after(5):  # b's next try takes it: within a second
                await wait_leader(tmp_path / "b", db)
        response = flight.answers["tail"]
        assert response.status_code == 503, response.text
        assert response.headers["retry-after"] == "1"
        assert response.headers["x-symphony-role"] == "standby"  # clients may try again
        assert "the leader changed" in response.json()["error"]
        assert trio.current_time() - taken_at < 3.0
        # The follow ended cleanly (httpx raises on a cut stream).
        assert flight.answers["follow"] == (200, b"")
        # At once: the stream did not wait out the tail's grace (HANDOVER_GRACE, 0.5 s).
        assert flight.ended_at["tail"] - flight.ended_at["follow"] > HANDOVER_GRACE / 2
        nursery.cancel_scope.cancel()


async def test_a_change_the_old_leader_had_when_the_standby_took_over_gets_a_502(
    tmp_path: Path,
) -> None:
    db = tmp_path / "a" / "symphony.db"
    async with trio.open_nursery() as nursery:
        a, b = await start_pair(nursery, tmp_path, lease_seconds=30.0)
        await wait_leader(tmp_path / "a", db)
        url = httpx.URL(b.http_url)
        stream = await trio.open_tcp_stream(url.host, url.port)
        # Half a body: b forwards what came (a streams it in) and a waits for the rest.
        await stream.send_all(
            f"POST /deployments HTTP/1.1\r\nHost: {url.host}\r\n"
            "Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{".encode()
        )
        leader_port = httpx.URL(a.http_url).port
        await wait_for(lambda: _connected_to(leader_port), timeout=10)  # b forwards it
        with Store.open(db) as store:
            store._conn.execute("UPDATE leases SET expires_at = 0")
        data = b""
        with trio.fail_after(10):
            while b"\r\n\r\n" not in data and (chunk := await stream.receive_some(65536)):
                data += chunk
            while not data.endswith(b"}") and (chunk := await stream.receive_some(65536)):
                data += chunk
        await stream.aclose()
        head, _, body = data.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 502 "), data
        assert b'"the leader changed"' in body and b"may have been applied" in body, data
        await wait_leader(tmp_path / "b", db)
        nursery.cancel_scope.cancel()


async def _connected_to(port: int | None) -> bool:
    """Whether this process has a connection to ``port`` (b's forward to a)."""
    with contextlib.suppress(psutil.Error):
        for conn in psutil.Process().net_connections(kind="tcp"):
            if conn.raddr and conn.raddr.port == port and conn.status == "ESTABLISHED":
                return True
    return False
