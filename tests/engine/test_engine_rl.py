"""examples/rl launched through symphony.engine: the same spec as the hand-built one,
and its processes really talk over TCP across two real nodes."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest
import trio

from symphony.engine import Cluster

from ..api.helpers import cluster

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "rl"


def load(script: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"rl_{script}", EXAMPLE / f"{script}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_engine_declares_the_same_experiment_as_the_http_example() -> None:
    engine = Cluster.new("symphony", url="http://127.0.0.1:9")
    declared = load("experiment").declare(engine, capacity="Analytic1").dump_dict()
    by_hand = load("launch").experiment()
    for data in (declared, by_hand):  # one name or a list of one: the same spec
        for proc in data["processes"]:
            if isinstance(proc.get("connects"), str):
                proc["connects"] = [proc["connects"]]
    assert declared == by_hand


async def test_examples_rl_through_the_engine_on_two_nodes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))  # the current experiment
    async with cluster(tmp_path) as c:
        await c.add_node("n2")  # its jobs end with the cluster, as n1's
        engine = Cluster.new("symphony", url=c.info.http_url, token=c.info.api_token)
        with trio.fail_after(15):
            while (
                sum(
                    n["state"] == "ready"
                    for n in await trio.to_thread.run_sync(engine.client.nodes)
                )
                < 2
            ):
                await trio.sleep(0.05)
        exp = load("experiment").declare(engine, capacity="Analytic1")
        await trio.to_thread.run_sync(engine.launch, exp)
        running = await trio.to_thread.run_sync(engine.wait_running, "rl", 30)
        assert {p["node_id"] for p in running["processes"]} == {"n1", "n2"}
        want = {f"agent-{k}": f"agent-{k} of agents-{k // 2} got: params v1" for k in range(4)}

        def arrived() -> bool:
            return all(line in engine.client.logs(f"rl.{name}") for name, line in want.items())

        with trio.fail_after(90):  # generous: the agents retry until the learner listens
            while not await trio.to_thread.run_sync(arrived):
                await trio.sleep(0.2)
        await trio.to_thread.run_sync(engine.delete, "rl")
