"""A revert with real processes: a real Conductor and node, 2 replicas without a health
check rolled from version 1 to 2, then version 3 adds the docs' check (a ``ready``
file its process never writes). Version 3 fails at its (short) deadline and the
deployment goes back to version 2 and stays there: version 2's processes are the same
ones throughout, never more than ``replicas + max_surge`` run, version 1 never comes
back.

Counted so that nothing is missed between two looks: each process, as its first act
and under a lock, counts the processes of the log still alive (itself too) and adds
its own line to the log: its pid, version and that count. How many run at once grows
only when one starts, so the highest count logged is the most that ever ran at once
(a restarted process is not counted twice: its run before has ended). What it cannot
see: a process killed before its first statement; the Conductor's instances, which
are counted as well, cover one of those.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import trio

from ..api.helpers import PYTHON, Cluster
from .test_rolling_procs import MARK, events, processes, proven, rolled
from .test_rolling_procs import spec as rolling_spec

CHECK = {"type": "exec", "command": ["test", "-f", "ready"], "period_seconds": 1}
#: The first act of each process (see the module docstring); a zombie is not alive.
SLEEPS = """
import fcntl, os, sys, time

def alive(pid):
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False

with open(sys.argv[3], "a+") as log:
    fcntl.flock(log, fcntl.LOCK_EX)
    log.seek(0)
    running = 1 + sum(alive(int(line.split()[0])) for line in log.read().splitlines())
    log.write(f"{os.getpid()} {sys.argv[2]} {running}\\n")
time.sleep(600)
"""


def spec(version: str, log: Path, **extra: Any) -> dict[str, Any]:
    """2 replicas of a process that logs its start (to ``log``) and only sleeps (its
    ``ready`` file never appears), with no health check unless ``extra`` adds one."""
    sleeps = [PYTHON, "-c", SLEEPS, MARK, version, str(log)]
    update = {"min_healthy_seconds": 0.5, "healthy_deadline_seconds": 4}
    data = {**rolling_spec(version), "replicas": 2, "health_check": None, "update": update}
    return {**data, "config": {"command": sleeps}, **extra}


def started(log: Path) -> tuple[dict[str, list[int]], int]:
    """Every process that ever ran, by version (the pids in the log), and the most that
    ran at once."""
    found: dict[str, list[int]] = {}
    most = 0
    for line in log.read_text().splitlines():
        pid, version, running = line.split()
        found.setdefault(version, []).append(int(pid))
        most = max(most, int(running))
    return found, most


async def test_a_version_that_adds_a_failing_check_reverts_to_the_last_and_stays(
    tmp_path: Path,
) -> None:
    log = tmp_path / "starts.log"
    await proven(tmp_path, lambda c: prove(c, log))


async def prove(c: Cluster, log: Path) -> None:
    assert (await c.http.post("/deployments", json=spec("v1", log))).status_code == 201
    await rolled(c, 1, replicas=2)
    response = await c.http.patch("/deployments/web", json=spec("v2", log))
    assert response.json()["version"] == 2, response.text
    await rolled(c, 2, replicas=2)
    found = await trio.to_thread.run_sync(processes)
    v2_pids = sorted(pid for pid, _ in found["v2"])
    assert set(found) == {"v2"} and len(v2_pids) == 2, found  # version 1's are gone

    response = await c.http.patch("/deployments/web", json=spec("v3", log, health_check=CHECK))
    assert response.json()["version"] == 3, response.text
    # Back to version 2 with no roll under way: no deadline is left to fail anything
    # (the revert's own roll, which could fail version 2, has ended).
    view = await rolled(c, 2, 60, replicas=2)
    said = [e["message"] for e in await events(c)]
    [revert] = [m for m in said if "reverting to version" in m]
    assert revert.startswith("version 3 failed") and revert.endswith("to version 2"), said
    assert not [m for m in said if "version 2 failed" in m or "version 1:" in m], said
    found = await trio.to_thread.run_sync(processes)
    assert set(found) == {"v2"} and sorted(pid for pid, _ in found["v2"]) == v2_pids
    ever, most = started(log)
    assert sorted(ever["v2"]) == v2_pids and len(ever["v1"]) == 2, ever
    assert most <= 3, log.read_text()  # replicas + max_surge
    instances = Counter(i["version"] for i in view["instances"])
    assert instances[3] == 1, view["instances"]  # none started too briefly to log
    versions = (await c.http.get("/deployments/web/versions")).json()["versions"]
    assert {v["version"]: v["status"] for v in versions} == {1: "good", 2: "good", 3: "failed"}
