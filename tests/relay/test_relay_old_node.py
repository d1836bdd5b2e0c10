"""A node of protocol 4 cannot relay: a visit or forward to its service is refused saying
so, and the node is never sent OpenStream (a message it does not know)."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from symphony.wire import OpenStream

from ..api.helpers import cluster
from ..api.old_node import run_old_node
from ..experiments.test_experiment_api import wait_experiment


async def test_relay_to_a_version_4_node_is_refused_saying_why(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        seen: list[Any] = []
        node = partial(run_old_node, version=4, capacities={"Analytic1": 10}, keep_all=True)
        await c.nursery.start(node, c.info, seen)
        spec = {
            "name": "oldexp",
            "processes": [{"name": "app", "command": ["true"], "exposes": ["ui"]}],
        }
        assert (await c.http.post("/experiments", json=spec)).status_code == 201
        await wait_experiment(c, "oldexp", "running")
        response = await c.http.get("/x/oldexp/ui/")
        assert response.status_code == 503, response.text
        assert response.json()["error"] == "service unavailable"
        assert "protocol 4 and cannot relay" in response.json()["detail"]
        assert not [m for m in seen if isinstance(m, OpenStream)]
        # network: relay is placed only on nodes that can relay: it waits, saying why.
        relay = {**spec, "name": "relayexp", "network": "relay"}
        assert (await c.http.post("/experiments", json=relay)).status_code == 201
        pending = await wait_experiment(c, "relayexp", "pending")
        assert "protocol version 5" in (pending["reason"] or ""), pending
