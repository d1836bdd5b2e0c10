"""A Conductor killed between sending a start and storing its placement keeps the job.

Real processes: a Conductor, node agents, jobs. The Conductor is run through
``crashpoint`` (see there), which holds every placement's save open, and is killed
with SIGKILL while it does: its store has the instance pending, while the node runs it.
The Conductor started again on the same state must adopt that process where it runs,
not start the job a second time on another node (and then stop the first).
"""

from __future__ import annotations

import signal
import sys
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


async def test_conductor_killed_before_storing_a_placement_keeps_the_job(
    tmp_path: Path,
) -> None:
    node_port, http_port = procs.free_port(), procs.free_port()
    plain = procs.conductor(tmp_path, node_port=node_port, http_port=http_port, node_timeout=30)
    crashing = procs.Service(plain.args, plain.log, module="tests.deployments.crashpoint")
    api = Api(f"http://127.0.0.1:{http_port}")
    agents: dict[str, procs.Service] = {}
    conductors = [crashing.start()]
    pids = tmp_path / "pids"
    try:
        await api.wait_healthy()
        agents["a"] = procs.node(tmp_path, "a", node_port=node_port).start()
        await eventually(lambda: _ready(api, {"a"}), timeout=30)
        assert (await api.post(pid_job("once", pids))).status_code == 201
        first = (await eventually(lambda: written(pids), timeout=30))[0]
        # The start reached node a and the job runs; the supervisor is held in the
        # placement's save, so what the node reported is stored nowhere.
        [inst] = (await api.get("once"))["instances"]
        assert inst["state"] in ("pending", "assigned") and inst["pid"] is None
        crashing.signal(signal.SIGKILL)
        crashing.proc.wait(10)  # type: ignore[union-attr]
        agents["a"].kill()  # its job keeps running; the agent comes back after node b
        assert psutil.pid_exists(first)

        conductors.append(plain.start())
        await api.wait_healthy()
        # Node b says hello first, with room for the job: placing the instance anew now
        # would start it there a second time.
        agents["b"] = procs.node(tmp_path, "b", node_port=node_port).start()
        await eventually(lambda: _ready(api, {"b"}), timeout=30)
        agents["a"].start()

        async def settled() -> dict[str, Any] | None:
            deployment = await api.get("once")
            if not await _ready(api, {"a", "b"}) or len(running(deployment)) != 1:
                return None
            return running(deployment)[0]

        kept = await eventually(settled, timeout=30)
        assert (kept["node_id"], kept["pid"]) == ("a", first)
        assert started(pids) == [first]  # never started a second time
        assert pids_with(mark("once")) == [first]
    finally:
        for service in [*conductors, *agents.values()]:
            service.kill()
        await api.aclose()
        for pid in pids_with(str(tmp_path), substring=True):
            psutil.Process(pid).send_signal(signal.SIGKILL)


async def _ready(api: Api, node_ids: set[str]) -> bool:
    states = {n["node_id"]: n["state"] for n in await api.nodes()}
    return all(states.get(n) == "ready" for n in node_ids)
