"""A revert with real processes: a real Conductor and node, 2 replicas without a health
check rolled from version 1 to 2, then version 3 adds the docs' check (a ``ready``
file its process never writes). Version 3 fails at its (short) deadline and the
deployment goes back to version 2 and stays there: version 2's processes are the same
ones throughout, never more than ``replicas + max_surge`` run, version 1 never comes
back. Counted from the operating system, as in ``test_rolling_procs.py``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from ..api.helpers import PYTHON, Cluster
from .test_rolling_procs import MARK, events, processes, proven, rolled
from .test_rolling_procs import spec as rolling_spec

CHECK = {"type": "exec", "command": ["test", "-f", "ready"], "period_seconds": 1}


def spec(version: str, **extra: Any) -> dict[str, Any]:
    """2 replicas of a process that only sleeps (its ``ready`` file never appears), with
    no health check unless ``extra`` adds one."""
    sleeps = [PYTHON, "-c", "import time; time.sleep(600)", MARK, version]
    update = {"min_healthy_seconds": 0.5, "healthy_deadline_seconds": 4}
    data = {**rolling_spec(version), "replicas": 2, "health_check": None, "update": update}
    return {**data, "config": {"command": sleeps}, **extra}


async def test_a_version_that_adds_a_failing_check_reverts_to_the_last_and_stays(
    tmp_path: Path,
) -> None:
    await proven(tmp_path, prove)


async def prove(c: Cluster) -> None:
    assert (await c.http.post("/deployments", json=spec("v1"))).status_code == 201
    await rolled(c, 1, replicas=2)
    response = await c.http.patch("/deployments/web", json=spec("v2"))
    assert response.json()["version"] == 2, response.text
    await rolled(c, 2, replicas=2)
    v2_pids = sorted(pid for pid, _ in (await trio.to_thread.run_sync(processes))["v2"])
    assert len(v2_pids) == 2

    response = await c.http.patch("/deployments/web", json=spec("v3", health_check=CHECK))
    assert response.json()["version"] == 3, response.text
    most = 0
    with trio.fail_after(60):
        while True:
            found = await trio.to_thread.run_sync(processes)
            most = max(most, sum(len(p) for p in found.values()))
            reverted = [e for e in await events(c) if e["kind"] == "reverted"]
            if reverted and "v3" not in found:
                break
            await trio.sleep(0.1)
    await trio.sleep(2)  # past the revert's own min_healthy_seconds and deadline checks
    await rolled(c, 2, 10, replicas=2)
    said = [e["message"] for e in await events(c)]
    [revert] = [m for m in said if "reverting to version" in m]
    assert revert.startswith("version 3 failed") and revert.endswith("to version 2"), said
    assert not [m for m in said if "version 2 failed" in m or "version 1:" in m], said
    found = await trio.to_thread.run_sync(processes)
    assert set(found) == {"v2"} and sorted(pid for pid, _ in found["v2"]) == v2_pids
    assert most <= 3, most  # replicas + max_surge
    versions = (await c.http.get("/deployments/web/versions")).json()["versions"]
    assert {v["version"]: v["status"] for v in versions} == {1: "good", 2: "good", 3: "failed"}
