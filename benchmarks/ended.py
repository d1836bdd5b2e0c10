"""What a node keeps of instances that ended for good — ``python -m benchmarks.ended``.

One process: a Conductor and a node agent (in-process, real monitor and jobs). A
deployment of ``--replicas`` run-to-completion replicas (``true``, restart ``never``)
runs to its end; ``run_cpu_s`` is the CPU time of the process from the create until
2 s after the last exit. Then: the instances the node still holds and its instance
records; ``idle_cpu_ms_per_s``, the CPU time per second of 5 idle seconds (heartbeats
every 0.5 s, each sampling every instance the node holds); ``hello_list_cpu_ms``, the
list a hello reports (``list_instances``); and, after the agent goes,
``adopt_cpu_ms``, a new agent's adoption of what it left.

Example::

    python -m benchmarks.ended --replicas 300
"""

from __future__ import annotations

import argparse
import functools
import json
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
from symphony.node.process import ProcessManager


async def _bench(replicas: int, tmp: Path) -> dict[str, Any]:
    result: dict[str, Any] = {"replicas": replicas}
    async with trio.open_nursery() as nursery:
        config = ConductorConfig(
            state_dir=tmp / "c", listen_host="127.0.0.1", listen_port=0, http_port=0
        )
        info = await nursery.start(run_conductor, config)
        node_config = local_node_config(info, tmp / "n1", {"Analytic1": 10})
        headers = {"Authorization": f"Bearer {info.api_token}"} if info.api_token else {}
        async with httpx.AsyncClient(base_url=info.http_url, headers=headers, timeout=30) as http:
            async with trio.open_nursery() as agent:
                node = await agent.start(functools.partial(run_node, node_config))
                while not any(
                    n["state"] == "ready" for n in (await http.get("/nodes")).json()["nodes"]
                ):
                    await trio.sleep(0.05)
                spec = {
                    "name": "batch",
                    "replicas": replicas,
                    "config": {"command": ["true"]},
                    "restart_policy": {"type": "never"},
                }
                started, cpu_started = time.monotonic(), time.process_time()
                assert (await http.post("/deployments", json=spec)).status_code == 201
                while True:
                    instances = (await http.get("/deployments/batch")).json()["instances"]
                    if len([i for i in instances if i["state"] == "exited"]) >= replicas:
                        break
                    await trio.sleep(0.1)
                result["all_exited_s"] = round(time.monotonic() - started, 2)
                await trio.sleep(2.0)  # what the node does once the Conductor has them
                # Conductor and node agent together (one process), from the create on.
                result["run_cpu_s"] = round(time.process_time() - cpu_started, 3)
                # Idle: heartbeats (every 0.5 s here) sample every instance the node holds.
                cpu = time.process_time()
                await trio.sleep(5.0)
                result["idle_cpu_ms_per_s"] = round((time.process_time() - cpu) / 5.0 * 1000, 2)
                manager = node.processes
                result["held"] = len(await manager.list_instances())
                result["records"] = len(manager.store.load_all())
                cpu = time.process_time()
                for _ in range(20):
                    await manager.list_instances()
                result["hello_list_cpu_ms"] = round((time.process_time() - cpu) / 20 * 1000, 3)
                agent.cancel_scope.cancel()  # the agent goes; the monitor stays
            manager = ProcessManager(state_dir=str(tmp / "n1" / "jobs"), node_id="n1")
            async with trio.open_nursery() as again:
                await again.start(manager.run)
                cpu = time.process_time()
                adopted = await manager.adopt()
                result["adopt_cpu_ms"] = round((time.process_time() - cpu) * 1000, 2)
                result["adopted"] = len(adopted)
                await manager.shutdown_monitor(kill_jobs=True)
                again.cancel_scope.cancel()
        nursery.cancel_scope.cancel()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicas", type=int, default=300)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(trio.run(_bench, args.replicas, Path(tmp))))


if __name__ == "__main__":
    main()
