"""Logs through the API: tail, follow, stderr, exited instances, choosing an instance."""

from __future__ import annotations

from pathlib import Path

import trio

from ..link.cluster import shared_cert_node, start_node
from .helpers import cluster, sh


async def test_logs_tail_returns_the_last_lines(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        script = "for i in $(seq 1 250); do echo line $i; done; echo oops >&2; sleep 30"
        assert (await c.http.post("/deployments", json=sh(script, "talker"))).status_code == 201
        await c.wait_running("talker")

        async def tail(**params: object) -> str:
            response = await c.http.get("/deployments/talker/logs", params=params)
            assert response.status_code == 200, response.text
            return response.text

        with trio.fail_after(10):
            while "oops" not in await tail(stream="stderr"):  # written just after it starts
                await trio.sleep(0.02)
        default = await tail()
        assert default.splitlines() == [f"line {i}" for i in range(151, 251)]
        assert (await tail(tail=3)).splitlines() == ["line 248", "line 249", "line 250"]
        assert (await tail(tail=0)) == ""
        by_replica = await c.http.get("/deployments/talker/logs", params={"instance": 0, "tail": 1})
        instance_id = by_replica.headers["X-Symphony-Instance"]
        assert by_replica.text == "line 250\n"
        by_id = await c.http.get("/deployments/talker/logs", params={"instance": instance_id})
        assert by_id.status_code == 200 and by_id.headers["X-Symphony-Node"] == "n1"
        missing = await c.http.get("/deployments/talker/logs", params={"instance": "7"})
        assert missing.status_code == 404 and "no instance" in missing.json()["detail"]


async def test_logs_follow_streams_new_lines_as_they_come(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        # One line now, then one line each time the flag file appears.
        flag = tmp_path / "flag"
        script = (
            f"echo first; n=0; while true; do if [ -e {flag} ]; then rm {flag}; n=$((n+1)); "
            "echo next $n; fi; sleep 0.02; done"
        )
        assert (await c.http.post("/deployments", json=sh(script, "ticker"))).status_code == 201
        await c.wait_running("ticker")
        with trio.fail_after(10):  # "first" is in the file before the stream opens
            while (await c.http.get("/deployments/ticker/logs")).text != "first\n":
                await trio.sleep(0.02)
        got: list[str] = []
        with trio.fail_after(15):
            async with c.http.stream(
                "GET", "/deployments/ticker/logs", params={"follow": "true"}, timeout=None
            ) as response:
                assert response.status_code == 200
                # Leave by cancelling, not by `break`: the cancellation runs through every
                # layer of httpx's nested generators and closes them.
                with trio.CancelScope() as reading:
                    async for line in response.aiter_lines():
                        got.append(line)
                        if line == "next 2":
                            reading.cancel()
                        else:  # written only now, while the stream is open
                            flag.touch()
        assert got == ["first", "next 1", "next 2"]
        # The stream closed cleanly: ordinary requests still work at once.
        assert (await c.http.get("/deployments/ticker/logs")).status_code == 200


async def test_logs_of_an_exited_instance_are_still_there(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        spec = sh("echo done and gone; exit 3", "brief", restart_policy={"type": "never"})
        assert (await c.http.post("/deployments", json=spec)).status_code == 201
        deployment = await c.wait_for(
            "brief", lambda d: d["instances"] and d["instances"][0]["exit_code"] == 3
        )
        assert deployment["instances"][0]["state"] in ("exited", "failed")
        response = await c.http.get("/deployments/brief/logs")
        assert response.status_code == 200
        assert response.text == "done and gone\n"
        # Following an exited instance gives its tail and then waits: the client decides.
        got = []
        with trio.move_on_after(0.5):
            async with c.http.stream(
                "GET", "/deployments/brief/logs", params={"follow": "1"}
            ) as streamed:
                async for line in streamed.aiter_lines():
                    got.append(line)
        assert got == ["done and gone"]


async def test_logs_of_a_node_that_is_gone_is_503(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        async with trio.open_nursery() as node_nursery:
            await start_node(node_nursery, shared_cert_node(c.info, "n1", tmp_path / "n1"))
            spec = sh("echo hi; sleep 30", "orphan")
            assert (await c.http.post("/deployments", json=spec)).status_code == 201
            await c.wait_running("orphan")
            node_nursery.cancel_scope.cancel()  # the node agent goes away

        async def disconnected() -> bool:
            nodes = (await c.http.get("/nodes")).json()["nodes"]
            return nodes[0]["state"] != "ready"

        with trio.fail_after(10):
            while not await disconnected():
                await trio.sleep(0.02)
        response = await c.http.get("/deployments/orphan/logs")
        assert response.status_code == 503
        assert response.json()["error"] == "node not connected"
        assert "'n1'" in response.json()["detail"]


async def test_logs_of_a_pending_instance_are_409(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        assert (await c.http.post("/deployments", json=sh("true", "waiting"))).status_code == 201
        response = await c.http.get("/deployments/waiting/logs")
        assert response.status_code == 409
        assert "has not run on a node" in response.json()["detail"]
