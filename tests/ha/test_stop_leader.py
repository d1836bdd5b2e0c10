"""A leader stopped cleanly (cancelled, as SIGTERM does) answers what it is serving,
then gives its lease up: the standby leads at once, not when the lease would expire.

Two real Conductors sharing one SQLite store (in this Trio loop), with a long lease (so
that only the release can explain a quick takeover). A web UI's ``/live`` stream is
open at the leader ``a`` and a create has sent half its body when ``a`` is cancelled:
the stream ends with its ``closing`` event (the Conductor is stopping), the create whose
rest comes a moment later is applied (``201``), and ``b`` leads well within the lease.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import trio

from symphony.conductor import ConductorInfo
from symphony.conductor.store import Store

from ..api.test_clean_stop import _answer
from .cluster import start_first, start_second, wait_leader

LEASE = 30.0
LATE = json.dumps({"name": "late", "node_group": "g", "config": {"command": ["true"]}}).encode()


async def test_a_leader_stopped_cleanly_answers_then_hands_over_at_once(tmp_path: Path) -> None:
    db = tmp_path / "a" / "symphony.db"
    answers: dict[str, Any] = {}
    async with trio.open_nursery() as nursery:
        running = trio.CancelScope()

        async def leader(*, task_status: trio.TaskStatus[ConductorInfo]) -> None:
            with running:
                async with trio.open_nursery() as inner:
                    task_status.started(await start_first(inner, tmp_path, lease_seconds=LEASE))

        a = await nursery.start(leader)
        await wait_leader(tmp_path / "a", db)
        await start_second(nursery, tmp_path, lease_seconds=LEASE)
        live_open, rest = trio.Event(), trio.Event()
        url = httpx.URL(a.http_url)

        async def live() -> None:
            async with (
                httpx.AsyncClient(timeout=10) as client,
                client.stream("GET", f"{a.http_url}/live") as response,
            ):
                lines = []
                async for line in response.aiter_lines():
                    lines.append(line)
                    if line.startswith("event: snapshot"):
                        live_open.set()
            answers["live"] = lines

        async def create_in_two_parts() -> None:
            stream = await trio.open_tcp_stream(url.host, url.port)
            async with stream:
                await stream.send_all(
                    f"POST /deployments HTTP/1.1\r\nHost: {url.host}\r\nContent-Type: "
                    f"application/json\r\nContent-Length: {len(LATE)}\r\n\r\n".encode()
                    + LATE[:5]
                )
                await rest.wait()
                await stream.send_all(LATE[5:])
                answers["create"] = await _answer(stream)

        async with trio.open_nursery() as waiting:
            waiting.start_soon(live)
            waiting.start_soon(create_in_two_parts)
            with trio.fail_after(10):
                await live_open.wait()
            await trio.sleep(0.2)  # the create's head is in
            running.cancel()
            stopped_at = trio.current_time()
            await trio.sleep(0.3)
            rest.set()
        with trio.fail_after(10):
            await wait_leader(tmp_path / "b", db)
        took_over_in = trio.current_time() - stopped_at
        nursery.cancel_scope.cancel()

    lines = answers["live"]
    assert [line for line in lines if line.startswith("event: ")][-1] == "event: closing"
    assert "is stopping" in [line for line in lines if line.startswith("data: ")][-1]
    assert answers["create"].startswith(b"HTTP/1.1 201 "), answers["create"]
    assert took_over_in < 5.0  # the lease was given up, not left to expire (30 s)
    with Store.open(db) as store:
        assert [d.name for d in store.list_deployments()] == ["late"]
