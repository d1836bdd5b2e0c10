"""``symphony drain`` / ``undrain`` against a real Conductor, and how ``nodes`` shows it."""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import trio

from symphony.cli.drain import drain_and_say
from symphony.client import ApiError, Client

from ..api.helpers import Cluster, cluster
from ..link.cluster import shared_cert_node, start_node


async def symphony(c: Cluster, *args: str) -> subprocess.CompletedProcess[bytes]:
    env = {**os.environ, "SYMPHONY_URL": c.info.http_url, "SYMPHONY_TOKEN": c.info.api_token or ""}
    return await trio.run_process(
        [sys.executable, "-m", "symphony.cli", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )


def lines(result: subprocess.CompletedProcess[bytes]) -> list[str]:
    return result.stdout.decode().splitlines()


async def deploy_sleepers(c: Cluster, *, replicas: int = 1) -> None:
    """Deployment ``web`` in group gpu-1: ``replicas`` processes that sleep, all running."""
    spec: dict[str, Any] = {
        "name": "web",
        "node_group": "gpu-1",
        "replicas": replicas,
        "config": {"command": [sys.executable, "-c", "import time; time.sleep(300)"]},
    }
    assert (await c.http.post("/deployments", json=spec)).status_code == 201
    await c.wait_for("web", lambda d: d["replicas"]["running"] == replicas)


async def test_cli_drain_and_undrain_say_what_happens(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        await deploy_sleepers(c, replicas=2)

        # The only node: its instances have nowhere to go, and the line says so rather
        # than promise a move.
        drained = await symphony(c, "drain", "n1")
        assert drained.returncode == 0, drained.stderr
        assert lines(drained) == [
            "node n1 draining: it takes no new work, but its 2 instances keep running "
            "there: no other node takes work",
            "(they move when one does; `symphony undrain n1` cancels the drain)",
        ]
        table = lines(await symphony(c, "nodes"))
        assert table[0].split()[:2] == ["NODE", "STATE"]
        assert table[1].split()[:2] == ["n1", "draining"]

        undrained = await symphony(c, "undrain", "n1")
        assert (undrained.returncode, lines(undrained)) == (
            0,
            ["node n1 undrained: it takes new work again"],
        )
        assert lines(await symphony(c, "nodes"))[1].split()[:2] == ["n1", "ready"]

        # With another node ready, they do move.
        await start_node(c.nursery, shared_cert_node(c.info, "n2", tmp_path / "n2"))
        with trio.fail_after(10):
            while not any(
                n["node_id"] == "n2" and n["state"] == "ready"
                for n in (await c.http.get("/nodes")).json()["nodes"]
            ):
                await trio.sleep(0.02)
        drained = await symphony(c, "drain", "n1")
        assert lines(drained) == [
            "node n1 draining: it takes no new work, and its 2 instances move elsewhere",
            "(each replacement starts before the old copy stops; `symphony ps` shows the moves)",
        ]
        assert (await symphony(c, "undrain", "n1")).returncode == 0

        unknown = await symphony(c, "drain", "nope")
        assert (unknown.returncode, unknown.stdout) == (1, b"")
        assert unknown.stderr.decode() == "symphony: error: not found: no node 'nope'\n"
        usage = await symphony(c, "drain")
        assert usage.returncode == 2


async def test_cli_drain_promises_a_move_only_within_the_group(tmp_path: Path) -> None:
    """Another ready node in another group takes none of a group's replicas: the line
    says which stay and why, not that they all move."""
    async with cluster(tmp_path, node_overrides={"groups": ("gpu-1", "cpu-1")}) as c:
        for name, group in (("web", "gpu-1"), ("batch", "cpu-1")):
            spec: dict[str, Any] = {
                "name": name,
                "node_group": group,
                "config": {"command": [sys.executable, "-c", "import time; time.sleep(300)"]},
            }
            assert (await c.http.post("/deployments", json=spec)).status_code == 201
            await c.wait_for(name, lambda d: d["replicas"]["running"] == 1)
        config = shared_cert_node(c.info, "n2", tmp_path / "n2", groups=("cpu-1",))
        await start_node(c.nursery, config)
        with trio.fail_after(10):
            while not any(
                n["node_id"] == "n2" and n["state"] == "ready"
                for n in (await c.http.get("/nodes")).json()["nodes"]
            ):
                await trio.sleep(0.02)

        drained = await symphony(c, "drain", "n1")
        assert drained.returncode == 0, drained.stderr
        assert lines(drained) == [
            "node n1 draining: it takes no new work; 1 of its 2 instances moves elsewhere, "
            "1 keeps running there: 1 node in group gpu-1, none taking new work: 1 draining",
            "(each replacement starts before the old copy stops; `symphony ps` shows the moves)",
        ]
        # The replacement runs on n2 before the old copy on n1 stops: wait for both.
        await c.wait_for(
            "batch",
            lambda d: (
                any(i["node_id"] == "n2" and i["state"] == "running" for i in d["instances"])
                and not any(
                    i["node_id"] == "n1" and i.get("finished_at") is None for i in d["instances"]
                )
            ),
        )
        # Only web is left on n1, and n2 is not in its group.
        assert lines(await symphony(c, "drain", "n1")) == [
            "node n1 draining: it takes no new work, but its 1 instance keeps running there: "
            "1 node in group gpu-1, none taking new work: 1 draining",
            "(it moves when one does; `symphony undrain n1` cancels the drain)",
        ]


async def test_cli_drain_counts_the_processes_of_experiments(tmp_path: Path) -> None:
    """An experiment's processes on the node are judged as the Scheduler places them
    (with their process groups): with nowhere to go the line says they stay, where it
    promised a move before."""
    async with cluster(tmp_path) as c:
        sleep = [sys.executable, "-c", "import time; time.sleep(300)"]
        body = {
            "name": "exp",
            "processes": [
                {"name": "learner", "node_group": "gpu-1", "command": sleep},
                {"name": "actor", "node_group": "gpu-1", "command": sleep},
            ],
        }
        assert (await c.http.post("/experiments", json=body)).status_code == 201, body
        await c.wait_for("exp.learner", lambda d: d["replicas"]["running"] == 1)
        await c.wait_for("exp.actor", lambda d: d["replicas"]["running"] == 1)
        drained = await symphony(c, "drain", "n1")
        assert drained.returncode == 0, drained.stderr
        assert lines(drained)[0] == (
            "node n1 draining: it takes no new work, but its 2 instances keep running "
            "there: no other node takes work"
        )
        assert (await symphony(c, "undrain", "n1")).returncode == 0
        # Another node of the group: the gang planner finds them a place, so they move.
        await c.add_node("n2")  # its jobs (the moved processes) end with the cluster
        with trio.fail_after(10):
            while not any(
                n["node_id"] == "n2" and n["state"] == "ready"
                for n in (await c.http.get("/nodes")).json()["nodes"]
            ):
                await trio.sleep(0.02)
        drained = await symphony(c, "drain", "n1")
        assert lines(drained)[0] == (
            "node n1 draining: it takes no new work, and its 2 instances move elsewhere"
        )


async def test_cli_drain_counts_what_ran_there_when_the_move_ends_before_it_looks(
    tmp_path: Path,
) -> None:
    """On a busy machine the replacement can run elsewhere and the old copy stop before
    the command looks at what the node runs: it still says the instance moves, where it
    said "nothing of it runs there now" when it looked after the drain."""
    async with cluster(tmp_path) as c:
        await deploy_sleepers(c)
        await c.add_node("n2")

        def moved(d: dict[str, Any]) -> bool:
            return any(
                i["node_id"] == "n2" and i["state"] == "running" for i in d["instances"]
            ) and not any(
                i["node_id"] == "n1" and i.get("finished_at") is None for i in d["instances"]
            )

        class Slow(Client):
            """A client as slow as a busy machine: the move is over when the drain returns."""

            def drain_node(self, node_id: str) -> dict[str, Any]:
                node = super().drain_node(node_id)
                trio.from_thread.run(c.wait_for, "web", moved)
                return node

        def run() -> str:
            out = io.StringIO()
            api = Slow(url=c.info.http_url, token=c.info.api_token)
            with contextlib.redirect_stdout(out):
                assert drain_and_say(api, "n1") == 0
            return out.getvalue()

        assert (await trio.to_thread.run_sync(run)).splitlines()[0] == (
            "node n1 draining: it takes no new work, and its 1 instance moves elsewhere"
        )


async def test_cli_drain_drains_even_when_it_cannot_list_what_runs_there(tmp_path: Path) -> None:
    """The listing comes before the drain; when it fails (a timeout, a standby's 503),
    the drain is still sent, and the command says what it could not tell."""
    async with cluster(tmp_path) as c:
        await deploy_sleepers(c)

        class Flaky(Client):
            def list_deployments(self, *args: Any, **kwargs: Any) -> Any:
                raise ApiError(503, "standby", "this Conductor is a standby")

        class NoNodes(Client):
            def nodes(self) -> list[dict[str, Any]]:
                raise ApiError(503, "standby", "this Conductor is a standby")

        def run(kind: type[Client]) -> tuple[int, str, str]:
            out, err = io.StringIO(), io.StringIO()
            api = kind(url=c.info.http_url, token=c.info.api_token)
            with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
                code = drain_and_say(api, "n1")
            return code, out.getvalue(), err.getvalue()

        code, out, err = await trio.to_thread.run_sync(run, Flaky)
        assert code == 0
        assert out.splitlines() == ["node n1 draining: it takes no new work"]
        assert err.startswith("drained; could not list what runs there: ")
        assert "standby" in err
        code, out, err = await trio.to_thread.run_sync(run, NoNodes)
        assert code == 0
        assert out.splitlines() == ["node n1 draining: it takes no new work; 1 instance ran there"]
        assert err.startswith("drained; could not list the nodes: ")
        [node] = [n for n in (await c.http.get("/nodes")).json()["nodes"] if n["node_id"] == "n1"]
        assert node["draining"] is True
