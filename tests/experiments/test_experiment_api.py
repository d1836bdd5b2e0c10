"""The experiments API over a real Conductor and node: stored whole or refused whole."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from ..api.helpers import Cluster, cluster


def sleeper(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "cmds": ["sleep 60"], **extra}


RL: dict[str, Any] = {
    "name": "rl",
    "processes": [
        sleeper("learner", binds=["replay-server", "parameter-server"]),
        sleeper("replay", connects="replay-server"),
    ],
    "process_groups": [
        {"name": "agents-0", "processes": [sleeper("agent-0", connects=["parameter-server"])]}
    ],
}


async def wait_experiment(c: Cluster, name: str, state: str, timeout: float = 15) -> Any:
    last = None
    with trio.move_on_after(timeout):
        while True:
            last = (await c.http.get(f"/experiments/{name}")).json()
            if last.get("state") == state:
                return last
            await trio.sleep(0.05)
    raise AssertionError(f"experiment {name} not {state}: {last}")


async def test_experiment_create_runs_every_process_as_a_deployment(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        response = await c.http.post("/experiments", json=RL)
        assert response.status_code == 201, response.text
        body = response.json()
        assert [p["name"] for p in body["processes"]] == ["learner", "replay", "agent-0"]
        assert body["processes"][2]["group"] == "agents-0"
        running = await wait_experiment(c, "rl", "running")
        assert all(p["node_id"] == "n1" for p in running["processes"])
        one = (await c.http.get("/deployments/rl.learner")).json()
        assert one["spec"]["experiment"]["name"] == "rl"
        binds = one["spec"]["experiment"]["binds"]
        assert binds == {"replay-server": None, "parameter-server": None}
        # Nor is one process of a group moved to another node group alone: it would
        # split a group whose processes run on one node.
        moved = await c.http.patch("/deployments/rl.agent-0", json={"node_group": "other"})
        assert moved.status_code == 422, moved.text
        assert moved.json()["detail"][0]["path"] == "node_group"
        # A process of an experiment does not roll (its processes are placed together).
        refused = await c.http.post("/deployments/rl.learner/restart")
        assert refused.status_code == 409 and "experiment rl" in refused.text
        # What it says to do works: stop and start the experiment (PATCH below).
        assert "--all-at-once" not in refused.text and "PATCH /experiments/rl" in refused.text
        listing = (await c.http.get("/experiments")).json()["experiments"]
        assert [e["name"] for e in listing] == ["rl"]
        events = (await c.http.get("/experiments/rl/events")).json()["events"]
        ids = {p["deployment_id"] for p in body["processes"]}
        assert {e["deployment_id"] for e in events} == ids

        stopped = (await c.http.patch("/experiments/rl", json={"desired_state": "stopped"})).json()
        assert stopped["desired_state"] == "stopped"
        await wait_experiment(c, "rl", "stopped")
        again = await c.http.patch("/experiments/rl", json={"desired_state": "running"})
        assert again.status_code == 200
        await wait_experiment(c, "rl", "running")

        deleted = await c.http.delete("/experiments/rl")
        assert deleted.status_code == 200, deleted.text
        assert (await c.http.get("/experiments/rl")).status_code == 404
        assert (await c.http.get("/deployments")).json()["deployments"] == []


async def test_experiment_bad_input_is_refused_whole(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        unknown = {"name": "x", "processes": [sleeper("a", connects=["nowhere"])]}
        response = await c.http.post("/experiments", json=unknown)
        assert response.status_code == 422
        assert "'nowhere'" in str(response.json()["detail"])

        clash = {"name": "x", "processes": [sleeper("a", binds="a-b"), sleeper("b", binds="a_b")]}
        response = await c.http.post("/experiments", json=clash)
        assert response.status_code == 422
        assert "SYMPH_A_B_" in str(response.json()["detail"])

        twice = {"name": "x", "processes": [sleeper("a"), sleeper("a")]}
        response = await c.http.post("/experiments", json=twice)
        assert response.status_code == 422
        assert "'a'" in str(response.json()["detail"])

        both = {"name": "x", "processes": [{"name": "a", "cmds": ["x"], "command": ["x"]}]}
        assert (await c.http.post("/experiments", json=both)).status_code == 422

        ok = {"name": "x", "processes": [sleeper("a")]}
        assert (await c.http.post("/experiments", json=ok)).status_code == 201
        taken = {"name": "x", "processes": [sleeper("b"), sleeper("c")]}
        response = await c.http.post("/experiments", json=taken)
        assert response.status_code == 409
        names = [d["name"] for d in (await c.http.get("/deployments")).json()["deployments"]]
        assert names == ["x.a"]  # nothing of the refused one was launched

        # A dotted name is an experiment's; a plain deployment cannot take one.
        plain = {"name": "x.b", "config": {"command": ["true"]}}
        assert (await c.http.post("/deployments", json=plain)).status_code == 422


async def test_experiment_field_of_a_deployment_is_the_conductors(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        fake = {
            "name": "x.a",
            "config": {"command": ["true"]},
            "experiment": {"name": "x", "process": "a", "size": 1},
        }
        response = await c.http.post("/deployments", json=fake)
        assert response.status_code == 422
        assert response.json()["detail"][0]["path"] == "experiment"
        ok = {"name": "x", "processes": [sleeper("a", binds="svc")]}
        assert (await c.http.post("/experiments", json=ok)).status_code == 201
        patch = {"experiment": {"binds": {"svc": 80}}}
        response = await c.http.patch("/deployments/x.a", json=patch)
        assert response.status_code == 422
        # Other fields of a process's deployment change as for any deployment.
        response = await c.http.patch("/deployments/x.a", json={"stop_timeout_seconds": 3})
        assert response.status_code == 200, response.text
        # Nor is one process deleted alone: that left an experiment without it, and
        # with no process at all one that said it was running.
        response = await c.http.delete("/deployments/x.a")
        assert response.status_code == 409, response.text
        assert response.json()["detail"] == (
            "deployment x.a is process a of experiment x: delete the experiment "
            "(DELETE /experiments/x, symphony d x), or stop it (PATCH /experiments/x)"
        )
        found = (await c.http.get("/experiments/x")).json()
        assert [p["name"] for p in found["processes"]] == ["a"]
        assert (await c.http.delete("/experiments/x")).status_code == 200


def test_experiment_state_names_what_does_not_run() -> None:
    from symphony.conductor.api.experiment_views import experiment_state

    def proc(name: str, state: str, node: str | None = "n1", reason: str | None = None) -> Any:
        return {"name": name, "state": state, "node_id": node, "reason": reason}

    assert experiment_state("running", [proc("a", "running")]) == ("running", None)
    state, reason = experiment_state("running", [proc("a", "running"), proc("b", "pending", None)])
    assert (state, reason) == ("degraded", "not running: b")
    state, reason = experiment_state(
        "running", [proc("a", "pending", None, "no room"), proc("b", "pending", None)]
    )
    assert (state, reason) == ("pending", "no room")
    state, reason = experiment_state("running", [proc("a", "failed", reason="gave up")])
    assert (state, reason) == ("failed", "process a failed: gave up")
    assert experiment_state("stopped", [proc("a", "running")]) == ("stopped", "stopping a")
    # A process that ended for good (its policy restarts it no more) is named with why:
    # without a change, the experiment never runs whole again.
    state, reason = experiment_state(
        "running",
        [
            proc("a", "running"),
            proc("b", "exited", reason="exited with code 7"),
            proc("c", "starting"),
        ],
    )
    assert (state, reason) == (
        "degraded",
        "not running: c; ended, not to be restarted: b (exited with code 7)",
    )
    assert experiment_state("stopped", [proc("a", "stopped")]) == ("stopped", None)


async def test_the_experiment_sets_its_processes_count_state_and_schedule(
    tmp_path: Path,
) -> None:
    """A process's ``replicas`` (one address per name in SYMPH_*), ``desired_state`` (a
    stopped process under an experiment that says it runs) and ``schedule`` are the
    experiment's: a PATCH of one is refused, naming the field and what to use instead,
    so ``deploy --update``, ``scale``, ``stop`` and the Client all get it."""
    async with cluster(tmp_path, node=False) as c:
        ok = {"name": "x", "processes": [sleeper("a", binds="svc")]}
        assert (await c.http.post("/experiments", json=ok)).status_code == 201
        for patch in (
            {"replicas": 2},
            {"desired_state": "stopped"},
            {"schedule": {"cron": "* * * * *"}},
        ):
            response = await c.http.patch("/deployments/x.a", json=patch)
            assert response.status_code == 422, response.text
            (field,) = patch
            [detail] = response.json()["detail"]
            assert detail["path"] == field
            assert "symphony p x" in detail["message"]
            assert "PATCH /experiments/x" in detail["message"]
        found = (await c.http.get("/deployments/x.a")).json()
        assert found["spec"]["replicas"] == 1 and found["desired_state"] == "running"
        assert found["spec"].get("schedule") is None and found["version"] == 1
        # A plain deployment takes them as ever.
        plain = {"name": "plain", "config": {"command": ["sleep", "60"]}}
        assert (await c.http.post("/deployments", json=plain)).status_code == 201
        response = await c.http.patch("/deployments/plain", json={"replicas": 0})
        assert response.status_code == 200, response.text
        assert (await c.http.delete("/experiments/x")).status_code == 200
