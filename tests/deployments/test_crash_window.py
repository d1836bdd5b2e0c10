"""A Conductor killed between sending a start and storing its placement keeps the job.

Real processes: a Conductor, node agents, jobs. The Conductor is run through
``crashpoint`` (see there), which holds every placement's save open, and is killed
with SIGKILL while it does: its store has the instance pending, while the node runs it.
The Conductor started again on the same state must adopt that process where it runs,
not start the job a second time on another node (and then stop the first). The other
side of the window, run through ``crashpoint_unsent``: the placement stored and its
start never sent; the start goes out when the node's hello comes, once.
"""

from __future__ import annotations

import contextlib
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil

from . import procs
from .helpers import Api, eventually, mark, pids_with, running


def pid_job(name: str, pids: Path) -> dict[str, Any]:
    """A long-running job that appends its PID to ``pids`` as it starts."""
    script = (
        "import os, sys, time; open(sys.argv[1], 'a').write(f'{os.getpid()}\\n'); time.sleep(300)"
    )
    return {
        "name": name,
        "node_group": "gpu-1",
        "capacity_requests": {"Analytic1": 1},
        "config": {"command": [sys.executable, "-c", script, str(pids), mark(name)]},
        "restart_policy": {"type": "on-failure", "backoff_seconds": 0.1},
    }


async def written(pids: Path) -> list[int]:
    """:func:`started`, for :func:`eventually`."""
    return started(pids)


def started(pids: Path) -> list[int]:
    """The PIDs the job wrote, one per start of it."""
    text = pids.read_text() if pids.exists() else ""
    return [int(line) for line in text.split("\n") if line.strip()]


@dataclass
class Window:
    """A crashing Conductor (run through ``crashpoint``) and node ``a``, the job
    ``once`` posted; the plain Conductor to start after the kill, on the same state."""

    tmp_path: Path
    node_port: int
    api: Api
    crashing: procs.Service
    plain: procs.Service
    agents: dict[str, procs.Service] = field(default_factory=dict)
    conductors: list[procs.Service] = field(default_factory=list)

    @property
    def pids(self) -> Path:
        return self.tmp_path / "pids"

    def kill_crashing(self) -> None:
        self.crashing.signal(signal.SIGKILL)
        self.crashing.proc.wait(10)  # type: ignore[union-attr]

    async def restart(self) -> None:
        self.conductors.append(self.plain.start())
        await self.api.wait_healthy()


@asynccontextmanager
async def window(tmp_path: Path, crashpoint: str) -> AsyncIterator[Window]:
    node_port, http_port = procs.free_port(), procs.free_port()
    plain = procs.conductor(tmp_path, node_port=node_port, http_port=http_port, node_timeout=30)
    crashing = procs.Service(plain.args, plain.log, module=f"tests.deployments.{crashpoint}")
    w = Window(tmp_path, node_port, Api(f"http://127.0.0.1:{http_port}"), crashing, plain)
    w.conductors.append(crashing.start())
    try:
        await w.api.wait_healthy()
        w.agents["a"] = procs.node(tmp_path, "a", node_port=node_port).start()
        await eventually(lambda: _ready(w.api, {"a"}), timeout=30)
        assert (await w.api.post(pid_job("once", w.pids))).status_code == 201
        yield w
    finally:
        for service in [*w.conductors, *w.agents.values()]:
            service.kill()
        await w.api.aclose()
        for pid in pids_with(str(tmp_path), substring=True):
            psutil.Process(pid).send_signal(signal.SIGKILL)


async def test_conductor_killed_before_storing_a_placement_keeps_the_job(
    tmp_path: Path,
) -> None:
    async with window(tmp_path, "crashpoint") as w:
        api, pids = w.api, w.pids
        first = (await eventually(lambda: written(pids), timeout=30))[0]
        # The start reached node a and the job runs; the supervisor is held in the
        # placement's save, so what the node reported is stored nowhere.
        [inst] = (await api.get("once"))["instances"]
        assert inst["state"] in ("pending", "assigned") and inst["pid"] is None
        w.kill_crashing()
        w.agents["a"].kill()  # its job keeps running; the agent comes back after node b
        assert psutil.pid_exists(first)

        await w.restart()
        # Node b says hello first, with room for the job: placing the instance anew now
        # would start it there a second time.
        w.agents["b"] = procs.node(tmp_path, "b", node_port=w.node_port).start()
        await eventually(lambda: _ready(api, {"b"}), timeout=30)
        w.agents["a"].start()

        async def settled() -> dict[str, Any] | None:
            deployment = await api.get("once")
            if not await _ready(api, {"a", "b"}) or len(running(deployment)) != 1:
                return None
            return running(deployment)[0]

        kept = await eventually(settled, timeout=30)
        assert (kept["node_id"], kept["pid"]) == ("a", first)
        assert started(pids) == [first]  # never started a second time
        assert pids_with(mark("once")) == [first]


async def test_conductor_killed_before_sending_a_stored_start_sends_it_after_restart(
    tmp_path: Path,
) -> None:
    # The other side of the window: the placement is stored (assigned to node a) and
    # the start never went out. The node's hello after the restart lacks the instance,
    # and the Conductor sends the start then, to that node, once.
    async with window(tmp_path, "crashpoint_unsent") as w:
        [stored] = await eventually(lambda: _stored(tmp_path / "conductor"), timeout=30)
        assert stored[1:] == ("assigned", "a")
        w.kill_crashing()
        assert started(w.pids) == []  # the start never reached the node
        await w.restart()  # node a reconnects by itself

        async def settled() -> dict[str, Any] | None:
            got = running(await w.api.get("once"))
            return got[0] if len(got) == 1 and got[0]["pid"] is not None else None

        kept = await eventually(settled, timeout=30)
        first = (await eventually(lambda: written(w.pids), timeout=30))[0]
        # The same instance, started by the resent start (not lost and placed anew).
        assert (kept["id"], kept["node_id"], kept["pid"]) == (stored[0], "a", first)
        assert started(w.pids) == [first]
        assert pids_with(mark("once")) == [first]


async def _stored(state_dir: Path) -> list[tuple[str, str, str | None]] | None:
    """The stored (id, state, node) of every instance, once one is placed; read from the
    Conductor's SQLite file by a second, read-only connection."""
    [db] = state_dir.glob("*.db")
    with contextlib.closing(sqlite3.connect(f"file:{db}?mode=ro", uri=True)) as conn:
        rows = conn.execute("SELECT id, state, node_id FROM instances").fetchall()
    return rows if any(node is not None for _, _, node in rows) else None


async def _ready(api: Api, node_ids: set[str]) -> bool:
    states = {n["node_id"]: n["state"] for n in await api.nodes()}
    return all(states.get(n) == "ready" for n in node_ids)
