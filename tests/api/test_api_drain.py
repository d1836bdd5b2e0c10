"""Draining a node through the API: no new placements, replicas moved replacement first.

A real Conductor and real nodes in-process (real TLS, SQLite, processes). ``POST
/nodes/{id}/drain`` makes the node take nothing new and moves its replicas elsewhere:
the replacement runs before the old copy is stopped. With nowhere to go the replica
stays where it is and the replacement's reason says why. The mark shows in ``GET
/nodes`` and ``/metrics``, and survives a Conductor restart.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import trio

from ..link.cluster import shared_cert_node, start_conductor, start_node
from .helpers import PYTHON, Cluster, cluster

SLEEP = [PYTHON, "-c", "import time; time.sleep(300)"]


def spec(name: str, replicas: int = 1) -> dict[str, Any]:
    return {
        "name": name,
        "node_group": "gpu-1",
        "capacity_requests": {"Analytic1": 1},
        "replicas": replicas,
        "config": {"command": SLEEP},
        "stop_timeout_seconds": 5,
    }


async def nodes(c: Cluster) -> dict[str, dict[str, Any]]:
    return {n["node_id"]: n for n in (await c.http.get("/nodes")).json()["nodes"]}


async def start_second_node(c: Cluster, node_id: str = "n2") -> None:
    await start_node(c.nursery, shared_cert_node(c.info, node_id, c.tmp / node_id))
    with trio.fail_after(10):
        while (await nodes(c)).get(node_id, {}).get("state") != "ready":
            await trio.sleep(0.02)


def live(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in deployment["instances"] if i["finished_at"] is None]


async def test_api_drain_moves_replicas_replacement_first_and_takes_nothing_new(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        assert (await c.http.post("/deployments", json=spec("web", 2))).status_code == 201
        before = await c.wait_for("web", lambda d: len(d["instances"]) == 2 and all(
            i["state"] == "running" for i in d["instances"]))  # fmt: skip
        assert {i["node_id"] for i in before["instances"]} == {"n1"}
        await start_second_node(c)

        response = await c.http.post("/nodes/n1/drain")
        assert response.status_code == 200, response.text
        assert response.json()["node_id"] == "n1"
        assert response.json()["draining"] is True
        assert response.json()["state"] == "ready"

        def moved(d: dict[str, Any]) -> bool:
            now = live(d)
            return len(now) == 2 and all(
                i["node_id"] == "n2" and i["state"] == "running" for i in now
            )

        after = await c.wait_for("web", moved, timeout=30)
        old = {i["id"]: i for i in after["instances"] if i["id"] in {
            j["id"] for j in before["instances"]}}  # fmt: skip
        assert {i["state"] for i in old.values()} == {"stopped"}
        # Replacement first: each replica's new instance ran before its old one stopped.
        events = (await c.http.get("/deployments/web/events")).json()["events"]
        kinds = [(e["kind"], e["instance_id"]) for e in events]
        for replica in (0, 1):
            gone = next(i for i in old.values() if i["replica"] == replica)["id"]
            new = next(i for i in live(after) if i["replica"] == replica)["id"]
            stopping = kinds.index(("stopping", gone))
            assert kinds.index(("started", new)) < stopping, kinds
            assert events[stopping]["message"] == (
                f"stopping {gone}: moved off draining node n1 (replaced by {new})"
            )
        assert any(k == "draining" for k, _ in kinds)

        # Nothing new lands on the draining node, even though it is the emptiest now.
        assert (await c.http.post("/deployments", json=spec("more", 3))).status_code == 201
        more = await c.wait_for("more", lambda d: len([
            i for i in d["instances"] if i["state"] == "running"]) == 3)  # fmt: skip
        assert {i["node_id"] for i in more["instances"]} == {"n2"}

        listed = await nodes(c)
        assert (listed["n1"]["draining"], listed["n2"]["draining"]) == (True, False)
        metrics = (await c.http.get("/metrics")).text
        assert 'symphony_node_draining{node="n1"} 1' in metrics
        assert 'symphony_node_draining{node="n2"} 0' in metrics

        response = await c.http.post("/nodes/n1/undrain")
        assert response.status_code == 200 and response.json()["draining"] is False
        assert (await c.http.post("/nodes/n1/undrain")).json()["draining"] is False  # again
        assert 'symphony_node_draining{node="n1"} 0' in (await c.http.get("/metrics")).text
        # Undrained: it takes work again.
        response = await c.http.patch("/deployments/more", json={"replicas": 12})
        assert response.status_code == 200
        spread = await c.wait_for("more", lambda d: len([
            i for i in d["instances"] if i["state"] == "running"]) == 12, timeout=30)  # fmt: skip
        assert {i["node_id"] for i in live(spread)} == {"n1", "n2"}


async def test_api_drain_with_nowhere_to_go_keeps_the_replica_and_says_why(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        assert (await c.http.post("/deployments", json=spec("solo"))).status_code == 201
        first = (await c.wait_running("solo"))["instances"][0]
        assert (await c.http.post("/nodes/n1/drain")).status_code == 200
        reason = "1 node in group gpu-1, none taking new work: 1 draining"

        def waiting(d: dict[str, Any]) -> bool:
            return any(i["state"] == "pending" and i["reason"] == reason for i in d["instances"])

        d = await c.wait_for("solo", waiting)
        running = [i for i in live(d) if i["state"] == "running"]
        assert [(i["id"], i["pid"]) for i in running] == [(first["id"], first["pid"])]
        assert d["state"] == "running"  # the replica still runs, where it was

        # Undrained before the move could happen: the replacement is called off.
        assert (await c.http.post("/nodes/n1/undrain")).status_code == 200
        d = await c.wait_for("solo", lambda d: len(live(d)) == 1)
        assert [(i["id"], i["pid"]) for i in live(d)] == [(first["id"], first["pid"])]
        called_off = [i for i in d["instances"] if i["id"] != first["id"]]
        assert [i["state"] for i in called_off] == ["stopped"]

        # And once there is room elsewhere, a drain completes the move.
        await start_second_node(c)
        assert (await c.http.post("/nodes/n1/drain")).status_code == 200

        def on_n2(d: dict[str, Any]) -> bool:
            return [(i["node_id"], i["state"]) for i in live(d)] == [("n2", "running")]

        await c.wait_for("solo", on_n2, timeout=30)


async def test_api_drain_survives_a_conductor_restart(tmp_path: Path) -> None:
    state = tmp_path / "conductor"
    async with trio.open_nursery() as outer:
        conductor_scope, first_gone = trio.CancelScope(), trio.Event()

        async def run_first(task_status: trio.TaskStatus[Any]) -> None:
            try:
                with conductor_scope:
                    async with trio.open_nursery() as inner:
                        task_status.started(await start_conductor(inner, state))
            finally:
                first_gone.set()

        info = await outer.start(run_first)
        await start_node(outer, shared_cert_node(info, "n1", tmp_path / "n1"))
        headers = {"Authorization": f"Bearer {info.api_token}"}
        async with httpx.AsyncClient(base_url=info.http_url, headers=headers) as http:
            with trio.fail_after(10):
                while (await http.post("/nodes/n1/drain")).status_code != 200:
                    await trio.sleep(0.05)  # until the node has said hello
        conductor_scope.cancel()
        await first_gone.wait()
        # The same state directory and ports: the node reconnects by itself.
        again = await start_conductor(
            outer,
            state,
            listen_port=info.node_port,
            http_port=int(info.http_url.rsplit(":", 1)[1]),
            relay_port=0,  # not the HTTP port + 1: that one may be someone else's
        )
        async with httpx.AsyncClient(base_url=again.http_url, headers=headers) as http:
            with trio.fail_after(30):
                while True:
                    listed = (await http.get("/nodes")).json()["nodes"]
                    if [(n["node_id"], n["state"]) for n in listed] == [("n1", "ready")]:
                        break
                    await trio.sleep(0.05)
            assert listed[0]["draining"] is True
            assert (await http.post("/nodes/n1/undrain")).json()["draining"] is False
        outer.cancel_scope.cancel()


async def test_api_drain_refuses_unknown_nodes_and_wrong_methods(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        for path in ("/nodes/nope/drain", "/nodes/nope/undrain", "/nodes/n1%00/drain"):
            response = await c.http.post(path)
            assert response.status_code == 404, (path, response.text)
            assert response.json()["error"] == "not found"
        assert (await c.http.post("/nodes/nope/drain")).json()["detail"] == "no node 'nope'"
        assert (await c.http.get("/nodes/n1/drain")).status_code == 405
        assert (await c.http.post("/nodes/n1/evict")).status_code == 404
        assert (await c.http.post("/nodes//drain")).status_code == 404
        # No body is expected: one not declared as JSON is refused like anywhere else,
        # and a JSON one (even malformed) is not read.
        response = await c.http.post("/nodes/n1/drain", content=b"\xff{not json")
        assert response.status_code == 415
        assert not (await nodes(c))["n1"]["draining"]
        json_header = {"Content-Type": "application/json"}
        response = await c.http.post("/nodes/n1/drain", content=b"{", headers=json_header)
        assert response.status_code == 200 and response.json()["draining"] is True
        async with httpx.AsyncClient(base_url=c.info.http_url) as anonymous:
            assert (await anonymous.post("/nodes/n1/undrain")).status_code == 401
        assert (await nodes(c))["n1"]["draining"] is True  # the refused undrain did nothing
