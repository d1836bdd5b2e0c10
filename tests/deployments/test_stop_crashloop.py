"""A DELETE of a deployment whose job crash-loops with no backoff leaves no process.

The node's monitor restarts such a job itself, at once, hundreds of times a second;
the stop used to chase those restarts (up to the stop's ask timing out, retried by the
node for ever). A Conductor and a node agent run as real processes here.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import trio

from .helpers import eventually
from .onenode import one_node_cluster, used


def _runs(path: Path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


async def test_delete_of_a_crash_loop_with_no_backoff_stops_it(tmp_path: Path) -> None:
    conductor, node, api = await one_node_cluster(tmp_path, capacity=10)
    log = tmp_path / "runs.txt"  # one line per run
    spec = {
        "name": "crashloop",
        "node_group": "gpu-1",
        "capacity_requests": {"Analytic1": 1},
        "config": {"command": ["sh", "-c", f"echo run >> {log}; exit 1"]},
        "restart_policy": {"type": "always", "backoff_seconds": 0, "max_backoff_seconds": 0},
    }
    try:
        assert (await api.post(spec)).status_code == 201

        async def looping() -> bool:
            return _runs(log) >= 200

        await eventually(looping, timeout=30)
        with trio.fail_after(10):
            response = await api.delete("crashloop")
        assert response.status_code == 200, response.text
        assert await used(api) == 0
        stopped = _runs(log)
        await trio.sleep(0.5)  # a restart after the stop would have written by now
        assert _runs(log) == stopped
    finally:
        for service in (node, conductor):
            with contextlib.suppress(ProcessLookupError):
                service.kill()
        await api.aclose()
