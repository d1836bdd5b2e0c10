"""Rolling updates with real processes: a real Conductor and node, 4 replicas behind a
health check (a file the process writes once it is ready, in its own directory).

What is healthy is counted from the operating system, not from the API: a live process
of the deployment whose working directory holds its ``ready`` file.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import psutil
import trio

from ..api.helpers import PYTHON, Cluster, cluster

MARK = f"rolling-proof-{os.getpid()}"  # this run's processes, not another's


def spec(version: str, *, ready: bool = True, **update: Any) -> dict[str, Any]:
    """4 replicas of a process that gets ready after 0.3 s (or exits at once)."""
    if ready:
        code = (
            "import pathlib, time; time.sleep(0.3); pathlib.Path('ready').touch(); time.sleep(600)"
        )
    else:
        code = "import sys; sys.exit(3)"
    return {
        "name": "web",
        "replicas": 4,
        "node_group": "gpu-1",
        "capacity_requests": {"Analytic1": 1},
        "config": {"command": [PYTHON, "-c", code, MARK, version]},
        "restart_policy": {"type": "on-failure", "backoff_seconds": 0.2},
        "health_check": {
            "type": "exec",
            "command": ["test", "-e", "ready"],
            "initial_delay_seconds": 0.5,
            "period_seconds": 1,
            "failure_threshold": 3,
        },
        "update": {
            "max_parallel": 1,
            "max_surge": 1,
            # What is healthy here is also checked from the OS (the ready file), so a
            # short min_healthy_seconds proves as much as a long one, in less time.
            "min_healthy_seconds": 0.5,
            "healthy_deadline_seconds": 8,
            **update,
        },
    }


def processes() -> dict[str, list[tuple[int, bool]]]:
    """Live processes of the deployment by version: (pid, has its ready file)."""
    found: dict[str, list[tuple[int, bool]]] = {}
    for proc in psutil.process_iter(["pid", "cmdline", "status", "cwd"]):
        with contextlib.suppress(psutil.Error, IndexError, TypeError):
            args = proc.info["cmdline"] or []
            if proc.info["status"] == psutil.STATUS_ZOMBIE or MARK not in args:
                continue
            version = args[args.index(MARK) + 1]
            ready = Path(proc.info["cwd"] or "/nonexistent", "ready").exists()
            found.setdefault(version, []).append((proc.pid, ready))
    return found


def healthy(found: dict[str, list[tuple[int, bool]]], version: str | None = None) -> int:
    return sum(
        1 for v, procs in found.items() for _, ready in procs if ready and version in (None, v)
    )


async def rolled(
    c: Cluster, version: int, timeout: float = 60, replicas: int = 4
) -> dict[str, Any]:
    """The deployment once it runs ``version`` everywhere with no roll under way."""

    def done(d: dict[str, Any]) -> bool:
        live = [i for i in d["instances"] if i["finished_at"] is None]
        return (
            d["version"] == version
            and d["rollout"] is None
            and len(live) == replicas
            and all(i["version"] == version and i["state"] == "running" for i in live)
        )

    return await c.wait_for("web", done, timeout)


async def sample_during(c: Cluster, version: int) -> list[tuple[int, int]]:
    """(healthy, total) processes sampled until the roll to ``version`` is done."""
    samples: list[tuple[int, int]] = []
    async with trio.open_nursery() as nursery:

        async def sample() -> None:
            while True:
                found = await trio.to_thread.run_sync(processes)
                samples.append((healthy(found), sum(len(p) for p in found.values())))
                await trio.sleep(0.05)

        nursery.start_soon(sample)
        await rolled(c, version)
        nursery.cancel_scope.cancel()
    return samples


async def events(c: Cluster) -> list[dict[str, Any]]:
    return (await c.http.get("/deployments/web/events?limit=1000")).json()["events"]


async def proven(tmp_path: Path, prove: Callable[[Cluster], Awaitable[None]]) -> None:
    """``prove`` on a cluster of its own, deleting "web" (its processes) after it."""
    async with cluster(tmp_path) as c:
        try:
            await prove(c)
        finally:
            with trio.move_on_after(30):
                await c.http.delete("/deployments/web", timeout=30)


async def test_rolling_update_good_bad_canary_and_rollback(tmp_path: Path) -> None:
    await proven(tmp_path, prove)


async def prove(c: Cluster) -> None:
    """Good update, bad update reverted, canary promoted, rollback to version 1."""
    assert (await c.http.post("/deployments", json=spec("v1"))).status_code == 201
    await rolled(c, 1)
    await c.wait_for("web", lambda d: True)
    with trio.fail_after(30):
        while healthy(await trio.to_thread.run_sync(processes), "v1") < 4:
            await trio.sleep(0.1)

    # A good update rolls: never fewer than 3 healthy processes, never more than 5.
    response = await c.http.patch("/deployments/web", json=spec("v2"))
    assert response.status_code == 200, response.text
    assert response.json()["version"] == 2
    samples = await sample_during(c, 2)
    assert len(samples) > 20
    assert min(h for h, _ in samples) >= 3, samples
    assert max(t for _, t in samples) <= 5, samples
    v2_pids = sorted(pid for pid, _ in processes()["v2"])
    assert len(v2_pids) == 4 and "v1" not in processes()

    # Scaling or changing `update` makes no version and rolls nothing.
    patch = {"update": {"min_healthy_seconds": 0.7}}
    assert (await c.http.patch("/deployments/web", json=patch)).json()["version"] == 2
    assert sorted(pid for pid, _ in processes()["v2"]) == v2_pids

    # A bad update (its process exits) is reverted; the old processes kept running.
    # It fails at its healthy deadline, kept short: it can never be met anyway.
    bad = spec("v3", ready=False, healthy_deadline_seconds=2)
    response = await c.http.patch("/deployments/web", json=bad)
    assert response.json()["version"] == 3
    await rolled(c, 2)
    assert sorted(pid for pid, _ in processes()["v2"]) == v2_pids
    assert "v3" not in processes()
    reverted = [e for e in await events(c) if e["kind"] == "reverted"]
    assert reverted and "version 3 failed" in reverted[0]["message"]
    assert "reverting to version 2" in reverted[0]["message"]
    assert "not healthy within 2 s" in reverted[0]["message"]
    versions = (await c.http.get("/deployments/web/versions")).json()["versions"]
    status = {v["version"]: v["status"] for v in versions}
    assert status == {1: "good", 2: "good", 3: "failed"}

    # A canary starts beside the old ones and waits for the promote.
    response = await c.http.patch("/deployments/web", json=spec("v4", canary=1))
    assert response.json()["version"] == 4
    await c.wait_for("web", lambda d: (d["rollout"] or {}).get("state") == "canary", 30)
    await trio.sleep(1.5)  # it keeps waiting
    found = processes()
    assert sorted(pid for pid, _ in found["v2"]) == v2_pids and len(found["v4"]) == 1
    promoted = await c.http.post("/deployments/web/promote")
    assert promoted.status_code == 200, promoted.text
    await rolled(c, 4)
    again = await c.http.post("/deployments/web/promote")
    assert again.status_code == 409

    # Rollback to version 1.
    response = await c.http.post("/deployments/web/rollback", json={"version": 1})
    assert response.status_code == 200, response.text
    await rolled(c, 1)
    assert healthy(processes(), "v1") == 4 and set(processes()) == {"v1"}
    missing = await c.http.post("/deployments/web/rollback", json={"version": 99})
    assert missing.status_code == 409 and "not kept" in missing.text
