"""A rolling restart with real processes: a real Conductor and node, 3 replicas behind a
health check, ``max_parallel: 1`` and no surge. What is ready is counted from the
operating system (see test_rolling_procs), and each new instance must be a new process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from ..api.helpers import Cluster, cluster
from .test_rolling_procs import events, healthy, processes, spec

RESTARTED = {**spec("r1", max_surge=0), "replicas": 3}


def pids() -> set[int]:
    return {pid for procs in processes().values() for pid, _ in procs}


async def restarted(c: Cluster, version: int) -> dict[str, Any]:
    def done(d: dict[str, Any]) -> bool:
        live = [i for i in d["instances"] if i["finished_at"] is None]
        return (
            d["version"] == version
            and d["rollout"] is None
            and len(live) == 3
            and all(i["version"] == version and i["state"] == "running" for i in live)
        )

    return await c.wait_for("web", done, 60)


async def test_rolling_restart_replaces_every_process_two_of_three_ready(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        try:
            await prove(c)
        finally:
            with trio.move_on_after(30):
                await c.http.delete("/deployments/web", timeout=30)


async def prove(c: Cluster) -> None:
    assert (await c.http.post("/deployments", json=RESTARTED)).status_code == 201
    await restarted(c, 1)
    with trio.fail_after(30):
        while healthy(await trio.to_thread.run_sync(processes)) < 3:
            await trio.sleep(0.1)
    before = pids()
    assert len(before) == 3

    response = await c.http.post("/deployments/web/restart")
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["version"] == 2 and answer["rollout"]["state"] == "promoted"
    again = await c.http.post("/deployments/web/restart")
    assert again.status_code == 409 and "under way" in again.text

    samples: list[tuple[int, int]] = []
    async with trio.open_nursery() as nursery:

        async def sample() -> None:
            while True:
                found = await trio.to_thread.run_sync(processes)
                samples.append((healthy(found), sum(len(p) for p in found.values())))
                await trio.sleep(0.05)

        nursery.start_soon(sample)
        await restarted(c, 2)
        nursery.cancel_scope.cancel()
    assert len(samples) > 10
    assert min(h for h, _ in samples) >= 2, samples  # replicas - max_parallel
    assert max(t for _, t in samples) <= 3, samples  # no surge
    with trio.fail_after(10):
        while healthy(await trio.to_thread.run_sync(processes)) < 3:
            await trio.sleep(0.1)
    after = pids()
    assert len(after) == 3 and not after & before  # each one a new process
    kinds = [e["kind"] for e in await events(c)]
    assert "restart-requested" in kinds and "restarted" in kinds

    stopped = await c.http.patch("/deployments/web", json={"desired_state": "stopped"})
    assert stopped.status_code == 200
    refused = await c.http.post("/deployments/web/restart")
    assert refused.status_code == 409 and "is stopped" in refused.text
