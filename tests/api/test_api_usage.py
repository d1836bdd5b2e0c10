"""Usage for charts: a real node's heartbeats fill one-minute buckets the API serves.

A real Conductor and node (heartbeat every 0.5 s) run a job that holds 40 MB; the API
then shows its CPU% and RSS in the instance view, the history of the node and of the
instance, and the deployment's restarts per minute. An instance that ends leaves the
history (its node stops listing it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from .helpers import PYTHON, cluster, sh

HOLDER = [
    PYTHON,
    "-c",
    "import time; x = bytearray(40_000_000); x[::4096] = b'1' * len(x[::4096]); time.sleep(600)",
]
MB = 1_000_000


async def _poll(get: Any, check: Any, timeout: float = 20.0) -> Any:
    last = None
    with trio.move_on_after(timeout):
        while True:
            last = (await get()).json()
            if check(last):
                return last
            await trio.sleep(0.1)
    raise AssertionError(f"condition not met in {timeout} s; last: {last}")


async def test_api_usage_history_of_a_node_and_its_instance(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        spec = {"name": "holder", "config": {"command": HOLDER}, "replicas": 1}
        assert (await c.http.post("/deployments", json=spec)).status_code == 201
        await c.wait_running("holder")

        # The instance view carries the latest sample of its process tree.
        view = await c.wait_for(
            "holder", lambda d: (d["instances"][0]["rss_bytes"] or 0) > 40 * MB, timeout=20
        )
        inst = view["instances"][0]
        assert inst["cpu_percent"] >= 0.0
        listed = (await c.http.get("/deployments")).json()["deployments"][0]["instances"][0]
        assert listed["rss_bytes"] > 40 * MB

        history = await _poll(
            lambda: c.http.get("/deployments/holder/usage-history"),
            lambda h: h["instances"] and h["instances"][0]["buckets"],
        )
        assert history["name"] == "holder" and history["bucket_seconds"] == 60
        (one,) = history["instances"]
        assert one["instance_id"] == inst["id"] and one["node_id"] == "n1"
        assert one["state"] == "running" and one["rss_bytes"] > 40 * MB
        bucket = one["buckets"][-1]
        assert bucket["start"] == history["current_bucket"]
        assert bucket["start"] % 60 == 0 and bucket["samples"] >= 1
        # The mean may hold samples from before the job's 40 MB were touched.
        assert (
            bucket["rss_bytes_max"] > 40 * MB and 0 < bucket["rss_bytes"] <= bucket["rss_bytes_max"]
        )
        assert bucket["cpu_percent_max"] >= bucket["cpu_percent"] >= 0.0
        restarts = history["restarts"]
        assert len(restarts) == 60 and restarts[-1]["start"] == history["current_bucket"]
        assert sum(r["count"] for r in restarts) == 0

        node = (await c.http.get("/nodes/n1/usage-history")).json()
        assert node["node_id"] == "n1" and node["buckets"]
        latest = node["buckets"][-1]
        assert 0 < latest["ram_used"] <= latest["ram_total"]
        assert 0.0 <= latest["cpu_percent"] <= latest["cpu_percent_max"]

        # Stopped: the node stops listing it, and its usage is gone from the API.
        stop = {"desired_state": "stopped"}
        assert (await c.http.patch("/deployments/holder", json=stop)).status_code == 200
        await c.wait_for(
            "holder",
            lambda d: (
                d["instances"][0]["state"] == "stopped"
                and d["instances"][0]["cpu_percent"] is None
                and d["instances"][0]["rss_bytes"] is None
            ),
        )
        after = (await c.http.get("/deployments/holder/usage-history")).json()
        assert after["instances"] == []


async def test_api_usage_history_counts_restarts_per_minute(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        policy = {"type": "always", "backoff_seconds": 0.1, "max_backoff_seconds": 0.1}
        spec = sh("exit 3", "crasher", restart_policy=policy)
        assert (await c.http.post("/deployments", json=spec)).status_code == 201
        history = await _poll(
            lambda: c.http.get("/deployments/crasher/usage-history"),
            lambda h: sum(r["count"] for r in h["restarts"]) >= 3,
        )
        counted = sum(r["count"] for r in history["restarts"])
        # Every restart is counted once: the events and the instance agree.
        events = (await c.http.get("/deployments/crasher/events?limit=1000")).json()["events"]
        waits = {
            (e["instance_id"], e["data"]["restarts"]) for e in events if e["kind"] == "restarting"
        }
        assert counted <= len(waits) + 5  # a few more may have happened between the reads
        assert all(r["start"] % 60 == 0 for r in history["restarts"])


async def test_api_usage_history_unknown_node_or_deployment_is_404(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        for path in ("/nodes/nope/usage-history", "/deployments/nope/usage-history"):
            response = await c.http.get(path)
            assert response.status_code == 404, path
            assert response.json()["error"] == "not found"
