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

import trio

from symphony.conductor import ConductorInfo
from symphony.conductor.store import Store

from ..inflight import InFlight
from .cluster import start_first, start_second, wait_leader

LEASE = 30.0
LATE = json.dumps({"name": "late", "node_group": "g", "config": {"command": ["true"]}}).encode()


async def test_a_leader_stopped_cleanly_answers_then_hands_over_at_once(tmp_path: Path) -> None:
    db = tmp_path / "a" / "symphony.db"
    async with trio.open_nursery() as nursery:
        running = trio.CancelScope()

        async def leader(*, task_status: trio.TaskStatus[ConductorInfo]) -> None:
            with running:
                async with trio.open_nursery() as inner:
                    task_status.started(await start_first(inner, tmp_path, lease_seconds=LEASE))

        a = await nursery.start(leader)
        await wait_leader(tmp_path / "a", db)
        await start_second(nursery, tmp_path, lease_seconds=LEASE)
        flight = InFlight()
        async with trio.open_nursery() as waiting:
            waiting.start_soon(flight.live, a.http_url)
            waiting.start_soon(flight.create_in_parts, a.http_url, LATE)
            await flight.opened()
            running.cancel()
            stopped_at = trio.current_time()
            await trio.sleep(0.3)
            flight.rest.set()
        with trio.fail_after(10):
            await wait_leader(tmp_path / "b", db)
        took_over_in = trio.current_time() - stopped_at
        nursery.cancel_scope.cancel()

    answers = flight.answers
    _, lines = answers["live"]
    assert [line for line in lines if line.startswith("event: ")][-1] == "event: closing"
    assert "is stopping" in [line for line in lines if line.startswith("data: ")][-1]
    assert answers["create"].startswith(b"HTTP/1.1 201 "), answers["create"]
    assert took_over_in < 5.0  # the lease was given up, not left to expire (30 s)
    with Store.open(db) as store:
        assert [d.name for d in store.list_deployments()] == ["late"]
