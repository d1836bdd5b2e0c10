"""A restart of a deployment behind a health check — ``python -m benchmarks.restart``.

One process: a Conductor and a node agent (in-process, real monitor and jobs). A
deployment of ``--replicas`` Python jobs, each ready 0.3 s after it starts (it writes a
file named by its pid into a shared directory, and removes it when it is stopped), with
a health check on that file and ``update: {max_parallel: 1, max_surge: --surge,
min_healthy_seconds: 1}``. Then ``--restarts`` restarts, each one either:

- ``--mode rolling``: ``POST /deployments/{id}/restart`` (a rolling restart);
- ``--mode all-at-once``: what ``symphony restart`` did before it rolled (and does with
  ``--all-at-once``): ``desired_state: stopped``, wait until every instance is gone,
  then ``running``.

Per restart: ``seconds`` until only new processes run, all ready; ``min_ready``, the
fewest ready processes seen (the directory listed every 20 ms); ``none_ready_s``, how
long no process was ready (the gap); and ``cpu_ms``, the CPU time of this process
(Conductor and node agent) over the restart. ``idle_cpu_ms_per_s``: the same process's
CPU time per second over 3 quiet seconds before the restarts (heartbeats, health
reports), to set against a restart's longer duration.

Example::

    python -m benchmarks.restart --mode rolling --replicas 4 --restarts 3
"""

from __future__ import annotations

import argparse
import functools
import itertools
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import trio

from benchmarks._inprocess import local_node_config
from symphony.conductor import run_conductor
from symphony.config import ConductorConfig
from symphony.node import run_node

# Ready after 0.3 s: a file "ready" in its own directory (for the health check), and one
# named by its pid in the shared directory, removed when stopped (SIGTERM).
JOB = """
import os, signal, sys, time
mark = os.path.join(sys.argv[1], str(os.getpid()))
def leave(*_):
    os.unlink(mark)
    sys.exit(0)
signal.signal(signal.SIGTERM, leave)
time.sleep(0.3)
open("ready", "w").close()  # in its own directory: what the health check tests
open(mark, "w").close()
while True:
    time.sleep(60)
"""


def _spec(replicas: int, surge: int, ready: Path) -> dict[str, Any]:
    return {
        "name": "web",
        "replicas": replicas,
        "config": {"command": [sys.executable, "-c", JOB, str(ready)]},
        "restart_policy": {"type": "on-failure", "backoff_seconds": 0.2},
        "health_check": {
            "type": "exec",
            "command": ["test", "-e", "ready"],
            "initial_delay_seconds": 0.3,
            "period_seconds": 1,
        },
        "update": {"max_parallel": 1, "max_surge": surge, "min_healthy_seconds": 1},
    }


async def _settled(http: httpx.AsyncClient, replicas: int, old: set[int], ready: Path) -> None:
    """Until only new processes run, every one of them ready, and no roll is under way.
    The directory is read every 20 ms, the API asked only once it looks done (and then
    every 100 ms): the CPU time measured is the Conductor's and the node's, not polls'."""
    while True:
        pids = {int(p) for p in os.listdir(ready)}
        if len(pids) != replicas or pids & old:
            await trio.sleep(0.02)
            continue
        answer = (await http.get("/deployments/web")).json()
        live = [i for i in answer["instances"] if i["finished_at"] is None]
        if (
            answer.get("rollout") is None
            and len(live) == replicas
            and all(i["state"] == "running" for i in live)
        ):
            return
        await trio.sleep(0.1)


async def _sample(ready: Path, seen: list[tuple[float, int]]) -> None:
    while True:
        seen.append((time.monotonic(), len(os.listdir(ready))))
        await trio.sleep(0.02)


async def _restart(http: httpx.AsyncClient, mode: str) -> None:
    if mode == "rolling":
        response = await http.post("/deployments/web/restart")
        assert response.status_code == 200, response.text
        return
    await http.patch("/deployments/web", json={"desired_state": "stopped"})
    while any(
        i["finished_at"] is None for i in (await http.get("/deployments/web")).json()["instances"]
    ):
        await trio.sleep(0.05)
    await http.patch("/deployments/web", json={"desired_state": "running"})


async def _bench(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    ready = tmp / "ready"
    ready.mkdir()
    runs: list[dict[str, Any]] = []
    async with trio.open_nursery() as nursery:
        config = ConductorConfig(
            state_dir=tmp / "c", listen_host="127.0.0.1", listen_port=0, http_port=0
        )
        info = await nursery.start(run_conductor, config)
        node_config = local_node_config(info, tmp / "n1", {"Analytic1": 100})
        headers = {"Authorization": f"Bearer {info.api_token}"} if info.api_token else {}
        async with httpx.AsyncClient(base_url=info.http_url, headers=headers, timeout=30) as http:
            node = await nursery.start(functools.partial(run_node, node_config))
            while not any(
                n["state"] == "ready" for n in (await http.get("/nodes")).json()["nodes"]
            ):
                await trio.sleep(0.05)
            spec = {**_spec(args.replicas, args.surge, ready), "node_group": "gpu-1"}
            assert (await http.post("/deployments", json=spec)).status_code == 201
            await _settled(http, args.replicas, set(), ready)
            await trio.sleep(1.0)
            cpu = time.process_time()
            await trio.sleep(3.0)
            idle_ms_per_s = round((time.process_time() - cpu) / 3.0 * 1000, 1)
            for _ in range(args.restarts):
                old = {int(p) for p in os.listdir(ready)}
                seen: list[tuple[float, int]] = []
                async with trio.open_nursery() as sampling:
                    sampling.start_soon(_sample, ready, seen)
                    started, cpu = time.monotonic(), time.process_time()
                    await _restart(http, args.mode)
                    await _settled(http, args.replicas, old, ready)
                    used = time.process_time() - cpu
                    sampling.cancel_scope.cancel()
                none = sum(b[0] - a[0] for a, b in itertools.pairwise(seen) if a[1] == 0)
                runs.append(
                    {
                        "seconds": round(time.monotonic() - started, 2),
                        "min_ready": min(n for _, n in seen),
                        "none_ready_s": round(none, 2),
                        "cpu_ms": round(used * 1000),
                    }
                )
            await http.delete("/deployments/web", timeout=60)
            await node.processes.shutdown_monitor(kill_jobs=True)  # it outlives the agent
        nursery.cancel_scope.cancel()
    return {
        "mode": args.mode,
        "replicas": args.replicas,
        "surge": args.surge,
        "idle_cpu_ms_per_s": idle_ms_per_s,
        "runs": runs,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("rolling", "all-at-once"), default="rolling")
    parser.add_argument("--replicas", type=int, default=4)
    parser.add_argument("--surge", type=int, default=0)
    parser.add_argument("--restarts", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(trio.run(_bench, args, Path(tmp))))


if __name__ == "__main__":
    main()
