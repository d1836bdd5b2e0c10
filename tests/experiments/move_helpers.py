"""What the tests of moves share: a Conductor and two nodes, and waits that explain.

Real processes (a Conductor and two nodes as ``symphony`` commands), as in the
deployment failure tests.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

from ..deployments import procs
from ..deployments.helpers import Api, eventually, pids_with
from ..deployments.test_failures import _stop_all, start_cluster

# Writes the address named by argv[2] (an environment variable) to the file argv[1];
# argv[3] is the test's marker (its processes are found and killed by it).
DUMP = (
    "import os, sys, time; out = sys.argv[1]; "
    "open(out + '.tmp', 'w').write(os.environ.get(sys.argv[2], '')); "
    "os.replace(out + '.tmp', out); time.sleep(300)"
)


def proc(
    name: str, out: Path, marker: str, reads: str = "SYMPH_SRV_ADDR", **extra: Any
) -> dict[str, Any]:
    """A process that writes the address ``reads`` to ``out/name``, then sleeps."""
    return {
        "name": name,
        "command": [sys.executable, "-c", DUMP, str(out / name), reads, marker],
        "capacity_requests": {"Analytic1": 5},
        **extra,
    }


async def experiment(api: Api, name: str) -> dict[str, Any]:
    response = await api.http.get(f"/experiments/{name}")
    assert response.status_code == 200, response.text
    return response.json()


@contextlib.asynccontextmanager
async def two_nodes(
    tmp_path: Path, ports: tuple[int, int], prefix: str
) -> AsyncIterator[tuple[dict[str, procs.Service], Api, Path, str]]:
    """A Conductor with nodes ``a-node`` and ``b-node``, a folder for the processes'
    files, and the marker their command lines carry (``prefix`` and the test's own
    folder). On the way out every process marked so is killed, and the cluster stopped."""
    marker = f"{prefix}-{tmp_path.name}"
    out = tmp_path / "out"
    out.mkdir()
    conductor, nodes, api = await start_cluster(tmp_path, ports, ["a-node", "b-node"])
    try:
        yield nodes, api, out, marker
    finally:
        with contextlib.suppress(ProcessLookupError):
            for pid in pids_with(marker):
                procs.os.kill(pid, signal.SIGKILL)
        _stop_all(conductor, nodes)
        await api.aclose()


async def started(api: Api, spec: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Create the experiment ``spec`` and wait until it runs: its processes by name."""
    response = await api.http.post("/experiments", json=spec)
    assert response.status_code == 201, response.text

    async def running() -> dict[str, Any] | None:
        e = await experiment(api, spec["name"])
        return e if e["state"] == "running" else None

    return {p["name"]: p for p in (await eventually(running, timeout=30))["processes"]}


async def until(api: Api, name: str, check: Callable[[], Awaitable[Any]]) -> Any:
    """``eventually(check)``; on a timeout the experiment's state and events say why."""
    try:
        return await eventually(check, timeout=40)
    except AssertionError:
        events = (await api.http.get(f"/experiments/{name}/events")).json()["events"]
        state = await experiment(api, name)
        raise AssertionError(f"{state}\n{[e['message'] for e in events]}") from None
