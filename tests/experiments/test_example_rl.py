"""examples/rl: six processes on two real nodes find each other through SYMPH_* values.

The experiment is submitted over HTTP; the processes really talk over TCP, and the
test reads their logs to see that every message arrived.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import trio

from ..api.helpers import cluster
from ..ports import port_range
from .test_experiment_api import wait_experiment

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rl"


def launcher() -> ModuleType:
    spec = importlib.util.spec_from_file_location("rl_launch", EXAMPLE / "launch.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


async def test_example_rl_processes_talk_over_tcp_across_two_nodes(tmp_path: Path) -> None:
    ports = port_range()  # one for both nodes: they share this machine's ports
    async with cluster(tmp_path, node_overrides={"ports": ports}) as c:
        await c.add_node("n2", ports=ports)
        with trio.fail_after(15):
            while (
                sum(n["state"] == "ready" for n in (await c.http.get("/nodes")).json()["nodes"]) < 2
            ):
                await trio.sleep(0.05)
        response = await c.http.post("/experiments", json=launcher().experiment())
        assert response.status_code == 201, response.text
        running = await wait_experiment(c, "rl", "running", timeout=30)
        nodes = {p["name"]: p["node_id"] for p in running["processes"]}
        assert set(nodes.values()) == {"n1", "n2"}  # 14 of Analytic1 needs both nodes
        assert nodes["agent-0"] == nodes["agent-1"] and nodes["agent-2"] == nodes["agent-3"]

        async def log(name: str) -> str:
            response = await c.http.get(f"/deployments/rl.{name}/logs", params={"tail": 100})
            ok = response.status_code == 200
            return response.text if ok else f"{response.status_code} {response.text}"

        expected = {
            "learner": [f"hello from agent-{k} of agents-{k // 2}" for k in range(4)]
            + [f"batch {b} from replay" for b in range(3)],
            **{f"agent-{k}": ["got: params v1"] for k in range(4)},
            "replay": ["replay-server answered: ack"],
        }
        with trio.move_on_after(30):
            while True:
                logs = {name: await log(name) for name in expected}
                if all(all(w in logs[n] for w in want) for n, want in expected.items()):
                    break
                await trio.sleep(0.2)
        for name, want in expected.items():
            for line in want:
                if line not in logs[name]:
                    err = await c.http.get(
                        f"/deployments/rl.{name}/logs", params={"tail": 20, "stream": "stderr"}
                    )
                    state = (await c.http.get("/experiments/rl")).json()
                    raise AssertionError((name, line, logs[name], err.text, state["processes"]))
        assert (await c.http.delete("/experiments/rl")).status_code == 200
