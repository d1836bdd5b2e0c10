"""A deployment's event history tells each thing once, against a real node agent."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from .helpers import Api, eventually
from .onenode import one_node_cluster


async def _events(api: Api, name: str) -> list[dict[str, Any]]:
    response = await api.http.get(f"/deployments/{name}/events")
    assert response.status_code == 200, response.text
    return response.json()["events"]


async def test_job_that_exits_once_has_one_exited_event(tmp_path: Path) -> None:
    # The node reports the end of the run and then, the restart policy having nothing to
    # do, that the instance is settled: both say "exited", but it exited once.
    conductor, node, api = await one_node_cluster(tmp_path, capacity=4)
    try:
        spec = {
            "name": "once",
            "node_group": "gpu-1",
            "capacity_requests": {"Analytic1": 1},
            "config": {"command": ["true"]},
            "restart_policy": {"type": "on-failure"},
        }
        assert (await api.post(spec)).status_code == 201

        async def finished() -> bool:
            instances = (await api.get("once"))["instances"]
            return bool(instances) and instances[0]["finished_at"] is not None

        await eventually(finished, timeout=30)
        await trio.sleep(1.0)  # any late duplicate would arrive by now
        kinds = [e["kind"] for e in await _events(api, "once")]
        assert kinds.count("exited") == 1, kinds
        assert kinds.count("started") <= 1, kinds
        instance = (await api.get("once"))["instances"][0]
        assert (instance["state"], instance["exit_code"]) == ("exited", 0)
    finally:
        node.kill()
        conductor.kill()
        await api.aclose()
