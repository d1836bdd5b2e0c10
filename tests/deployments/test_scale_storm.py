"""Scaling storms against a real Conductor: the actors must keep answering.

A deployment scaled 0 -> 300 -> 0 in quick succession makes the Scheduler and the
deployment's supervisor talk to each other as hard as they can (placements one way,
releases and withdrawals the other). Both mailboxes are bounded, so if either side
*waited* on the other, they would deadlock and the API would answer 503 from then on.
Meanwhile the API asks the Scheduler for its figures every 100 ms.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

import trio

from ..link.cluster import start_conductor
from .echonode import EchoNode
from .helpers import Api, eventually, job, live, running

REPLICAS = 300


async def _serve(info_box: list[Any], state: Path, *, task_status: Any) -> None:
    async with trio.open_nursery() as nursery:
        info_box.append(await start_conductor(nursery, state))
        task_status.started()
        await trio.sleep_forever()


async def _probe(api: Api, latencies: list[float], failures: list[str]) -> None:
    """GET /metrics and /nodes every 100 ms (each asks the Scheduler and the registry)."""
    while True:
        for path in ("/metrics", "/nodes"):
            began = time.monotonic()
            response = await api.http.get(path)
            latencies.append(time.monotonic() - began)
            if response.status_code != 200:
                failures.append(f"{path}: {response.status_code} {response.text[:200]}")
        await trio.sleep(0.1)


async def test_scale_storm_scheduler_keeps_answering(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        box: list[Any] = []
        await nursery.start(functools.partial(_serve, box, tmp_path / "c"))
        info = box[0]
        nodes = [
            EchoNode(f"echo-{i}", info.node_port, info.cert_dir, {"Analytic1": REPLICAS})
            for i in range(2)
        ]
        for node in nodes:
            await nursery.start(node.run)
        api = Api(info.http_url, info.api_token)
        assert (await api.post(job("storm", replicas=0))).status_code == 201
        latencies: list[float] = []
        failures: list[str] = []
        probing = trio.CancelScope()

        async def probe() -> None:
            with probing:
                await _probe(api, latencies, failures)

        nursery.start_soon(probe)

        for _ in range(3):
            for replicas in (REPLICAS, 0):
                response = await api.patch("storm", {"replicas": replicas})
                assert response.status_code == 200, response.text
        response = await api.patch("storm", {"replicas": REPLICAS})
        assert response.status_code == 200, response.text

        async def all_running() -> bool:
            return len(running(await api.get("storm"))) == REPLICAS

        await eventually(all_running, timeout=60, interval=0.5)
        assert (await api.patch("storm", {"replicas": 0})).status_code == 200

        async def all_stopped() -> bool:
            return not live(await api.get("storm"))

        await eventually(all_stopped, timeout=60, interval=0.5)

        async def nothing_reserved() -> bool:
            return all(not any(n["capacities_used"].values()) for n in await api.nodes())

        await eventually(nothing_reserved, timeout=30)
        probing.cancel()
        assert not any(node.running for node in nodes)  # every start was stopped again
        assert not failures, failures[:5]
        # A deadlock shows as 503s and asks that never return; a busy machine (the whole
        # Conductor runs in this test's process) may slow one ask, never to seconds.
        assert max(latencies) < 3.0, f"slowest ask {max(latencies):.2f} s"
        await api.aclose()
        nursery.cancel_scope.cancel()
