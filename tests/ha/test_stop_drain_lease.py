"""A leader stopped cleanly keeps its lease while it drains, then gives it up.

Two real Conductors sharing one SQLite file (in this Trio loop), with a short lease
(0.8 s: renewed every 0.27 s, run out 0.53-0.8 s after the last renewal). The leader
``a`` is cancelled (as SIGTERM does) while a create has sent half its body and never
sends the rest: ``a`` drains for the whole grace (1 s), past the lease. ``b`` takes the
lease only after ``a`` has stopped (it took it during the drain, which fences the
drain's writes), and at once then: well within one lease time. (Whether the create
itself is applied when its rest comes within the grace is timing the machine's load
can spoil; ``benchmarks/stop_takeover.py`` measures it with real processes.)
"""

from __future__ import annotations

import functools
import json
import sqlite3
import time
from pathlib import Path

import trio

from symphony.conductor import ConductorInfo

from ..inflight import InFlight
from .cluster import conductor_name, start_first, start_second, wait_leader

LEASE = 0.8
LATE = json.dumps({"name": "late", "node_group": "g", "config": {"command": ["true"]}}).encode()


def acquired_at(db: Path) -> tuple[str, float]:
    """The lease's holder and when (wall clock) its term began."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = conn.execute(
            "SELECT holder, acquired_at FROM leases WHERE name = 'conductor'"
        ).fetchone()
    finally:
        conn.close()
    return str(row[0]), float(row[1])


async def test_a_stopping_leader_keeps_its_lease_while_it_drains_then_hands_over(
    tmp_path: Path,
) -> None:
    db = tmp_path / "a" / "symphony.db"
    stopped: list[float] = []  # the wall time a's run_conductor returned
    a_stopped = trio.Event()
    async with trio.open_nursery() as nursery:
        running = trio.CancelScope()

        async def leader(*, task_status: trio.TaskStatus[ConductorInfo]) -> None:
            with running:
                async with trio.open_nursery() as inner:
                    task_status.started(await start_first(inner, tmp_path, lease_seconds=LEASE))
            stopped.append(time.time())
            a_stopped.set()

        a = await nursery.start(leader)
        await wait_leader(tmp_path / "a", db)
        await start_second(nursery, tmp_path, lease_seconds=LEASE)
        flight = InFlight()
        async with trio.open_nursery() as waiting:
            waiting.start_soon(flight.live, a.http_url)
            waiting.start_soon(
                functools.partial(flight.create_in_parts, a.http_url, LATE, send_rest=False)
            )
            await flight.opened()
            running.cancel()  # the drain waits the whole grace for the create's rest
            cancelled = time.time()
        with trio.fail_after(10):
            await wait_leader(tmp_path / "b", db)
            await a_stopped.wait()
        nursery.cancel_scope.cancel()

    assert stopped[0] - cancelled > LEASE  # the drain outlasted the lease
    # (a) No takeover during the drain: b's term began after a had stopped.
    holder, began = acquired_at(db)
    assert holder == conductor_name(tmp_path / "b")
    assert began >= stopped[0] - 0.05, f"b took over {stopped[0] - began:.3f} s before a stopped"
    # (b) ... and at once after it: the lease was given up, not left to run out.
    assert began - stopped[0] < LEASE / 2, f"b took over {began - stopped[0]:.3f} s after"
