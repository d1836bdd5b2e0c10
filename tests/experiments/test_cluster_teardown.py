"""A test's cluster takes its services with it: no port of the node's range stays held
for a later test's node to find taken (the jobs are built to outlive their agent)."""

from __future__ import annotations

import sys
from pathlib import Path

import psutil
import trio

from ..api.helpers import cluster
from ..ports import port_range
from .test_experiment_api import wait_experiment

# Binds its port, says so, and serves until killed; runs outside the test's directory,
# as examples/rl does, so that only the cluster's own teardown can find it.
SERVE = (
    "import os, socket, time; s = socket.socket(); "
    "s.bind(('127.0.0.1', int(os.environ['SYMPH_SVC_PORT']))); s.listen(); "
    "print('listening', flush=True); time.sleep(600)"
)


def held(port: int) -> bool:
    return any(
        c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port
        for c in psutil.net_connections("tcp")
    )


async def test_a_clusters_services_end_with_it(tmp_path: Path) -> None:
    spec = {
        "name": "svc",
        "processes": [
            {
                "name": "srv",
                "command": [sys.executable, "-c", SERVE],
                "cwd": "/",
                "binds": ["svc"],
            }
        ],
    }
    async with cluster(tmp_path, node_overrides={"ports": port_range()}) as c:
        assert (await c.http.post("/experiments", json=spec)).status_code == 201
        running = await wait_experiment(c, "svc", "running")
        [process] = running["processes"]
        pid, port = process["pid"], process["ports"]["svc"]
        with trio.fail_after(20):
            while "listening" not in (await c.http.get("/deployments/svc.srv/logs")).text:
                await trio.sleep(0.05)
        assert held(port)
    # Nothing deleted the experiment: the cluster's end alone stops its service.
    assert not psutil.pid_exists(pid) or psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    assert not held(port)
