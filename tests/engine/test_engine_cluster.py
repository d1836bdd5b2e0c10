"""symphony.engine against a real Conductor and node over HTTP: the seed's calls work."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from symphony.client import ApiError
from symphony.engine import Cluster, EngineError, ExperimentExists, ExperimentSpec, SymphonyConfig
from symphony.spec import SpecError

from ..api.helpers import cluster


@pytest.fixture(autouse=True)
def fresh_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    SymphonyConfig().reset()
    yield
    SymphonyConfig().reset()


def declare(cluster: Cluster, name: str = "rl") -> ExperimentSpec:
    exp = cluster.new_experiment(name)
    learner = exp.new_process(
        "learner", cmds=["echo learner at $SYMPH_PARAMETER_SERVER_ADDR", "sleep 60"]
    )
    learner.binds(["replay-server", "parameter-server"])
    exp.new_process("replay", command=["sleep", "60"], env={"N": "3"}).connects("replay-server")
    agents = exp.new_process_group("agents")
    for i in range(2):
        agent = agents.new_process(
            f"agent-{i}", cmds=["sleep 60"], capacity_requests={"Analytic1": 1}
        )
        agent.connects("parameter-server")
    return exp


async def test_launch_list_delete_through_the_http_api(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:

        def scenario() -> None:
            SymphonyConfig().set_username("sarah")
            SymphonyConfig().set_experiment_folder(tmp_path / "saved")
            engine = Cluster.new("symphony", url=c.info.http_url, token=c.info.api_token)
            exp = declare(engine)
            assert exp.name == "sarah-rl"
            created = engine.launch(exp)
            assert [p["name"] for p in created["processes"]] == [
                "learner",
                "replay",
                "agent-0",
                "agent-1",
            ]
            running = engine.wait_running("sarah-rl", timeout=30)
            assert {p["group"] for p in running["processes"]} == {None, "agents"}
            assert (tmp_path / "saved" / "sarah-rl" / "experiment.yaml").exists()
            assert engine.list_experiments() == ["sarah-rl"]
            # Launching it again is refused (saved, and on the Conductor) unless forced.
            with pytest.raises(ExperimentExists, match="force"):
                engine.launch(declare(engine))
            engine.launch(declare(engine), force=True)
            engine.wait_running("sarah-rl", timeout=30)
            engine.delete("sarah-rl")
            assert engine.list_experiments() == []
            with pytest.raises(ApiError) as info:
                engine.delete("sarah-rl")
            assert info.value.status == 404

        await trio.to_thread.run_sync(scenario)


async def test_a_connect_to_an_unbound_name_raises_before_anything_runs(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:

        def scenario() -> None:
            engine = Cluster.new("symphony", url=c.info.http_url, token=c.info.api_token)
            exp = declare(engine, "broken")
            exp.get_process("replay").connects("nowhere")
            with pytest.raises(SpecError, match="'nowhere'"):
                engine.launch(exp)
            assert engine.list_experiments() == []
            assert engine.client.list_deployments() == []

        await trio.to_thread.run_sync(scenario)


def test_dump_dict_and_load_dict_give_the_same_experiment() -> None:
    exp = ExperimentSpec("rl", network="direct")
    exp.new_process("tb", cmds="tensorboard").exposes({"tensorboard": 6006})
    exp.new_process("learner", command=["python", "l.py"], env={"A": "1"}).binds("ps")
    group = exp.new_process_group("agents")
    group.new_process("agent-0", cmds=["python a.py"]).connect(["ps"])
    data = exp.dump_dict()
    assert data["processes"][0]["exposes"] == {"tensorboard": 6006}
    assert data["processes"][1]["binds"] == ["ps"]
    again = ExperimentSpec.load_dict(data)
    assert again.dump_dict() == data
    again.validate()


def test_a_dry_run_checks_and_submits_nothing() -> None:
    engine = Cluster.new("symphony", url="http://127.0.0.1:9")  # nothing listens there
    exp = declare(engine)
    assert engine.launch(exp, dry_run=True)["name"] == "rl"


def test_an_unknown_kind_names_the_ones_there_are() -> None:
    with pytest.raises(EngineError, match=r"'symphony'.*'local'"):
        Cluster.new("tmux")


async def test_wait_running_raises_at_once_when_a_process_ended_for_good(tmp_path: Path) -> None:
    """A process whose restart policy starts it no more keeps the experiment from ever
    running whole: waiting out the timeout would only hide why."""
    async with cluster(tmp_path) as c:

        def scenario() -> None:
            engine = Cluster.new("symphony", url=c.info.http_url, token=c.info.api_token)
            exp = engine.new_experiment("half")
            exp.new_process("ok", cmds=["sleep 60"]).binds("svc")
            bad = exp.new_process("bad", cmds=["exit 7"], restart_policy={"type": "never"})
            bad.connects("svc")
            engine.launch(exp)
            began = time.monotonic()
            with pytest.raises(TimeoutError) as info:
                engine.wait_running("half", timeout=120)
            assert time.monotonic() - began < 60
            assert "ended, not to be restarted: bad (exited with code 7)" in str(info.value)
            found = engine.get_experiment("half")
            (row,) = [p for p in found["processes"] if p["name"] == "bad"]
            assert row["reason"] == "exited with code 7"

        await trio.to_thread.run_sync(scenario)


async def test_wait_running_does_not_take_a_crash_loop_for_running(tmp_path: Path) -> None:
    """A process that fails at once and restarts at once (backoff 0) is "running" at most
    looks: ``wait_running`` follows ``symphony deploy --wait``'s rule (the same run seen
    twice, a second apart, and no failed run since) and raises, naming it."""
    async with cluster(tmp_path) as c:

        def scenario() -> None:
            engine = Cluster.new("symphony", url=c.info.http_url, token=c.info.api_token)
            exp = engine.new_experiment("loop")
            exp.new_process("ok", cmds=["sleep 60"]).binds("svc")
            flaky = exp.new_process(
                "flaky",
                cmds=["sleep 0.2; exit 3"],
                restart_policy={"type": "always", "backoff_seconds": 0},
            )
            flaky.connects("svc")
            engine.launch(exp)
            with pytest.raises(TimeoutError, match="exited with code 3"):
                engine.wait_running("loop", timeout=20)

        await trio.to_thread.run_sync(scenario)


async def test_wait_running_looks_every_half_second_as_deploy_wait_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each look is two requests (the experiment, its processes): ``wait_running``
    paces them as ``symphony deploy --wait`` does (:data:`POLL`), not five times as often."""
    from symphony.client.settle import POLL

    async with cluster(tmp_path, node=False) as c:
        engine = Cluster.new("symphony", url=c.info.http_url, token=c.info.api_token)
        exp = engine.new_experiment("idle")
        exp.new_process("a", cmds=["sleep 60"])
        await trio.to_thread.run_sync(engine.launch, exp)  # no node: it stays pending
        pauses: list[float] = []
        real_sleep = time.sleep

        def sleep(seconds: float) -> None:
            pauses.append(seconds)
            real_sleep(seconds)

        monkeypatch.setattr(time, "sleep", sleep)
        with pytest.raises(TimeoutError, match="pending"):
            await trio.to_thread.run_sync(lambda: engine.wait_running("idle", timeout=1.2))
        assert POLL == 0.5 and pauses, pauses
        assert all(0 <= p <= POLL for p in pauses) and pauses[0] == POLL, pauses
        assert len(pauses) <= 4, pauses
