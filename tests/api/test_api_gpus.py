"""GPU devices through the whole system: a real Conductor, a real node with a declared
list of devices, real jobs printing what they see; and a protocol-3 node, which gets
its jobs as before (``gpu`` is a plain count there)."""

from __future__ import annotations

import dataclasses
from functools import partial
from pathlib import Path
from typing import Any

import msgpack
import trio

from symphony.wire import StartInstance, encode

from ..link.cluster import shared_cert_node, start_node
from .helpers import cluster, sh
from .old_node import run_old_node


async def _node(c: Any, node_id: str) -> dict[str, Any]:
    with trio.fail_after(10):
        while True:
            nodes = {n["node_id"]: n for n in (await c.http.get("/nodes")).json()["nodes"]}
            if nodes.get(node_id, {}).get("state") == "ready":
                return nodes[node_id]
            await trio.sleep(0.02)


async def test_api_gpus_instances_get_distinct_devices_shown_per_instance_and_device(
    tmp_path: Path,
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    async with cluster(tmp_path, node=False) as c:
        config = shared_cert_node(c.info, "g1", tmp_path / "g1", gpus=["0", 1])
        await start_node(c.nursery, config)
        node = await _node(c, "g1")
        assert node["capacities_total"] == {"Analytic1": 10, "gpu": 2}
        assert [(d["id"], d["instance_id"]) for d in node["gpu_devices"]] == [
            ("0", None),
            ("1", None),
        ]
        script = f'echo "$CUDA_VISIBLE_DEVICES" > "{out}/$SYMPHONY_INSTANCE"; exec sleep 1000'
        spec = sh(script, "train", replicas=3, capacity_requests={"gpu": 1})
        assert (await c.http.post("/deployments", json=spec)).status_code == 201

        def two_running_one_pending(d: dict[str, Any]) -> bool:
            states = sorted(i["state"] for i in d["instances"])
            devices_known = all(i["devices"] for i in d["instances"] if i["state"] == "running")
            return states == ["pending", "running", "running"] and devices_known

        deployment = await c.wait_for("train", two_running_one_pending, timeout=20)
        running = [i for i in deployment["instances"] if i["state"] == "running"]
        assert sorted(d for i in running for d in i["devices"]) == ["0", "1"]
        for inst in running:  # what the job saw is what the API says it holds
            with trio.fail_after(10):
                while not (out / inst["id"]).exists():
                    await trio.sleep(0.02)
            assert (out / inst["id"]).read_text().split() == inst["devices"]
        (pending,) = [i for i in deployment["instances"] if i["state"] == "pending"]
        assert "gpu" in pending["reason"]

        # The node view reads the store at most a second late: wait for it.
        expected = {i["devices"][0]: (i["id"], deployment["id"]) for i in running}
        with trio.fail_after(10):
            while True:
                listed = (await _node(c, "g1"))["gpu_devices"]
                holders = {d["id"]: (d["instance_id"], d["deployment_id"]) for d in listed}
                if holders == expected:
                    break
                await trio.sleep(0.05)

        # Deleted: the devices are free again (the ended instances keep their record).
        assert (await c.http.delete("/deployments/train")).status_code in (200, 202, 204)
        with trio.fail_after(20):
            while True:
                node = await _node(c, "g1")
                if all(d["instance_id"] is None for d in node["gpu_devices"]):
                    break
                await trio.sleep(0.05)


async def test_api_gpus_a_version_3_node_runs_gpu_jobs_as_before(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        seen: list[StartInstance] = []
        # A count, as version-3 nodes declared it.
        node = partial(run_old_node, version=3, capacities={"gpu": 1})
        await c.nursery.start(node, c.info, seen)
        spec = sh("true", "old-gpu", capacity_requests={"gpu": 1})
        assert (await c.http.post("/deployments", json=spec)).status_code == 201
        deployment = await c.wait_running("old-gpu")
        (start,) = seen
        # Nothing it does not know: the field is left out of the frame, not sent empty.
        assert "gpus" not in msgpack.unpackb(encode(start), raw=False)
        assert deployment["instances"][0]["devices"] == []
        listed = await _node(c, "old")
        assert listed["gpu_devices"] == [] and listed["capacities_used"] == {"gpu": 1}


def test_api_gpus_node_device_list_survives_a_node_odd_words() -> None:
    from symphony.conductor.api.routes_nodes import node_json
    from symphony.conductor.nodes.model import NodeView
    from symphony.conductor.store import InstanceRecord

    listed = [
        {"id": "0", "index": 0, "uuid": None, "name": "x"},
        {"id": 5},  # not a device id: left out
        "GPU-1",  # not a map: left out
        {"id": "1", "index": "one", "uuid": 7, "name": ["n"]},  # odd fields: null
    ]
    view = NodeView(
        node_id="n1",
        state="ready",
        groups=(),
        capacities_total={"gpu": 2},
        resources={"gpu_devices": listed},
        usage={},
        last_heartbeat=None,
        connected_at=None,
        remote=None,
        shared_certificate=False,
        heartbeat_sec=1.0,
    )
    holder = InstanceRecord("t-0-a", "d_1", 0, "running", node_id="n1", devices=("1",))
    data = node_json(view, {}, {("n1", "1"): holder})
    assert data["gpu_devices"] == [
        {"id": "0", "index": 0, "uuid": None, "name": "x", "instance_id": None,
         "deployment_id": None},
        {"id": "1", "index": None, "uuid": None, "name": None, "instance_id": "t-0-a",
         "deployment_id": "d_1"},
    ]  # fmt: skip
    assert node_json(view, {})["gpu_devices"][1]["instance_id"] is None  # no holders given
    odd = dataclasses.replace(view, resources={"gpu_devices": "all of them"})
    assert node_json(odd, {})["gpu_devices"] == []
