"""Placement with a real Conductor and real nodes in-process (jobs are real processes)."""

from __future__ import annotations

from pathlib import Path

import trio

from ..link.cluster import shared_cert_node, start_conductor, start_node
from .helpers import Api, eventually, job, live, mark, pids_with, running


async def test_burst_beyond_capacity_runs_exactly_capacity(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        await start_node(
            nursery,
            shared_cert_node(info, "small", tmp_path / "n", capacities_total={"Analytic1": 5}),
        )
        api = Api(info.http_url, info.api_token)
        await eventually(api.nodes)
        names = [f"burst-{i}" for i in range(8)]

        async def post(name: str) -> None:
            response = await api.post(job(name))
            assert response.status_code == 201, response.text

        async with trio.open_nursery() as burst:  # all at once: no overbooking
            for name in names:
                burst.start_soon(post, name)

        async def settled() -> list[dict] | None:
            deployments = await api.all()
            n_running = sum(len(running(d)) for d in deployments)
            n_pending = sum(1 for d in deployments for i in live(d) if i["state"] == "pending")
            return deployments if (n_running, n_pending) == (5, 3) else None

        deployments = await eventually(settled)
        pending = [d for d in deployments if d["state"] == "pending"]
        assert all(
            d["pending_reason"]
            == "no ready node in group gpu-1 has Analytic1 >= 1 free; 1 node in group, "
            "best has 0"
            for d in pending
        ), [d["pending_reason"] for d in pending]
        node = (await api.nodes())[0]
        assert node["capacities_used"] == {"Analytic1": 5}
        # Free one slot: exactly one waiting deployment starts, at once.
        victim = next(d for d in deployments if running(d))["name"]
        assert (await api.delete(victim)).status_code == 200

        async def five_running_again() -> bool:
            deployments = await api.all()
            return len(deployments) == 7 and sum(len(running(d)) for d in deployments) == 5

        await eventually(five_running_again)
        assert pids_with(mark(victim)) == []
        await api.aclose()
        nursery.cancel_scope.cancel()


async def test_node_group_is_respected(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        await start_node(nursery, shared_cert_node(info, "gpu-box", tmp_path / "g"))
        await start_node(
            nursery, shared_cert_node(info, "cpu-box", tmp_path / "c2", groups=("cpu-1",))
        )
        api = Api(info.http_url, info.api_token)

        async def two_nodes() -> bool:
            return len(await api.nodes()) == 2

        await eventually(two_nodes)
        for i in range(3):
            assert (await api.post(job(f"on-cpu-{i}", node_group="cpu-1"))).status_code == 201
        assert (await api.post(job("nowhere", node_group="tpu-9"))).status_code == 201

        async def placed() -> list[dict] | None:
            ds = [await api.get(f"on-cpu-{i}") for i in range(3)]
            return ds if all(running(d) for d in ds) else None

        for deployment in await eventually(placed):
            assert {i["node_id"] for i in running(deployment)} == {"cpu-box"}
        nowhere = await api.get("nowhere")
        assert nowhere["state"] == "pending"
        assert nowhere["pending_reason"] == "no node in group tpu-9"
        await api.aclose()
        nursery.cancel_scope.cancel()


async def test_delete_stops_the_whole_process_group(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        await start_node(nursery, shared_cert_node(info, "n1", tmp_path / "n"))
        api = Api(info.http_url, info.api_token)
        await eventually(api.nodes)
        marker = "grandchild-marker"
        spec = job("family")
        # The job leaves a child loop behind it in the same process group.
        loop = "(while :; do sleep 1; done)"
        spec["config"]["command"] = [
            "sh",
            "-c",
            f"{loop} & exec python3 -c 'import time; time.sleep(300)' {marker}",
        ]
        assert (await api.post(spec)).status_code == 201

        async def started() -> list[int]:
            return pids_with(marker, substring=True) if running(await api.get("family")) else []

        await eventually(started)
        response = await api.delete("family")
        assert response.status_code == 200, response.text
        assert pids_with(marker, substring=True) == []
        assert (await api.http.get("/deployments/family")).status_code == 404
        assert (await api.nodes())[0]["capacities_used"] == {"Analytic1": 0}
        await api.aclose()
        nursery.cancel_scope.cancel()


async def test_stop_start_scale_and_replace(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        await start_node(nursery, shared_cert_node(info, "n1", tmp_path / "n"))
        api = Api(info.http_url, info.api_token)
        await eventually(api.nodes)
        assert (await api.post(job("web", replicas=2))).status_code == 201

        async def n_running(n: int) -> dict | None:
            d = await api.get("web")
            return d if len(running(d)) == n and len(live(d)) == n else None

        first = await eventually(lambda: n_running(2))
        first_ids = {i["id"] for i in running(first)}
        # Scaling keeps the instances that run; it adds or removes only the difference.
        assert (await api.patch("web", {"replicas": 3})).status_code == 200
        third = await eventually(lambda: n_running(3))
        assert first_ids < {i["id"] for i in running(third)}
        assert (await api.patch("web", {"replicas": 1})).status_code == 200
        await eventually(lambda: n_running(1))
        # Stop frees everything; start runs them again.
        assert (await api.patch("web", {"desired_state": "stopped"})).status_code == 200
        await eventually(lambda: n_running(0))
        assert (await api.nodes())[0]["capacities_used"] == {"Analytic1": 0}
        assert pids_with(mark("web")) == []
        assert (await api.patch("web", {"desired_state": "running"})).status_code == 200
        started = await eventually(lambda: n_running(1))
        # A template change replaces the instance (stop old, start new). The roll waits
        # min_healthy_seconds (10 s by default) before the old one stops: kept short.
        old = running(started)[0]["id"]
        change = {"config": {"env": {"COLOR": "blue"}}, "update": {"min_healthy_seconds": 0.5}}
        assert (await api.patch("web", change)).status_code == 200

        async def replaced() -> bool:
            d = await api.get("web")
            return [i["id"] for i in running(d)] not in ([], [old]) and len(live(d)) == 1

        await eventually(replaced)
        await api.aclose()
        nursery.cancel_scope.cancel()
