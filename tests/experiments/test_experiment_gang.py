"""Gang placement through the API: an experiment that does not fit stays pending whole."""

from __future__ import annotations

from pathlib import Path

import trio

from ..api.helpers import cluster
from .test_experiment_api import sleeper, wait_experiment


async def test_experiment_that_does_not_fit_stays_pending_whole(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:  # n1: Analytic1 10
        big = {
            "name": "big",
            "processes": [
                sleeper("a", capacity_requests={"Analytic1": 6}),
                sleeper("b", capacity_requests={"Analytic1": 6}),
            ],
        }
        assert (await c.http.post("/experiments", json=big)).status_code == 201
        pending = await wait_experiment(c, "big", "pending")
        with trio.move_on_after(10):
            while "does not fit" not in (pending["reason"] or ""):
                await trio.sleep(0.05)
                pending = (await c.http.get("/experiments/big")).json()
        assert "does not fit" in pending["reason"], pending
        assert "Analytic1" in pending["reason"]
        assert all(p["node_id"] is None for p in pending["processes"])
        nodes = (await c.http.get("/nodes")).json()["nodes"]
        assert nodes[0]["capacities_used"].get("Analytic1", 0) == 0  # nothing half-reserved

        # A group runs on one node: 3 + 3 + 3 in one group does not fit 10 - 0 ... but
        # 3 + 3 does, and a smaller experiment still goes through beside the waiting one.
        small = {
            "name": "small",
            "process_groups": [
                {
                    "name": "g",
                    "processes": [
                        sleeper("x", capacity_requests={"Analytic1": 3}),
                        sleeper("y", capacity_requests={"Analytic1": 3}),
                    ],
                }
            ],
        }
        assert (await c.http.post("/experiments", json=small)).status_code == 201
        running = await wait_experiment(c, "small", "running")
        assert {p["node_id"] for p in running["processes"]} == {"n1"}
        still = (await c.http.get("/experiments/big")).json()
        assert still["state"] == "pending"
