"""Stops are confirmed by the node: DELETE and scale-down leave no process behind.

A Conductor and a node agent run as real processes; the jobs are real ``sleep``
processes (cheap, so a hundred of them do not swamp a small machine), each carrying a
duration unique to the test so that ``pids_with`` finds exactly them.
"""

from __future__ import annotations

import contextlib
import signal
from pathlib import Path
from typing import Any

import trio

from . import procs
from .helpers import eventually, live, pids_with, running
from .onenode import node_state, one_node_cluster, used


def _sleeper(name: str, seconds: str, replicas: int) -> dict[str, Any]:
    return {
        "name": name,
        "node_group": "gpu-1",
        "capacity_requests": {"Analytic1": 1},
        "replicas": replicas,
        "config": {"command": ["sleep", seconds]},
        "stop_timeout_seconds": 2,
    }


def _stop(*services: procs.Service) -> None:
    for service in services:
        with contextlib.suppress(ProcessLookupError):
            service.kill()


async def test_delete_right_after_create_stops_every_process_and_frees_capacity(
    tmp_path: Path,
) -> None:
    conductor, node, api = await one_node_cluster(tmp_path, capacity=100)
    mark = "3017.25"
    try:
        assert (await api.post(_sleeper("burst", mark, 100))).status_code == 201
        response = await api.delete("burst")
        assert response.status_code == 200, response.text
        # DELETE answered only once the node confirmed the stops: nothing is reserved...
        assert await used(api) == 0
        # ...and nothing runs (a moment for the last reaped process groups to vanish).
        await eventually(lambda: _none_left(mark), timeout=5)
        await trio.sleep(1.0)  # a late start would show itself now
        assert pids_with(mark) == []
        assert await used(api) == 0
    finally:
        _stop(node, conductor)
        await api.aclose()


async def test_scale_down_while_node_away_stops_them_when_it_returns(tmp_path: Path) -> None:
    conductor, node, api = await one_node_cluster(tmp_path, capacity=10)
    mark = "3021.75"
    try:
        assert (await api.post(_sleeper("away", mark, 5))).status_code == 201

        async def all_running() -> bool:
            return len(running(await api.get("away"))) == 5

        await eventually(all_running, timeout=30)
        node.kill()  # the agent dies; its jobs keep running
        await eventually(lambda: node_state(api, "disconnected"))
        assert (await api.patch("away", {"replicas": 0})).status_code == 200
        await trio.sleep(1.0)
        # The stop cannot reach the node: the instances wait, holding their capacity.
        deployment = await api.get("away")
        assert {i["state"] for i in live(deployment)} == {"stopping"}
        assert await used(api) == 5
        assert len(pids_with(mark)) == 5

        node.start()  # its hello lists the five; the Conductor says stop again

        async def all_stopped() -> bool:
            return not live(await api.get("away")) and await used(api) == 0

        await eventually(all_stopped, timeout=30)
        await eventually(lambda: _none_left(mark), timeout=10)
    finally:
        with contextlib.suppress(ProcessLookupError):
            node.signal(signal.SIGCONT)
        _stop(node, conductor)
        await api.aclose()


async def _none_left(mark: str) -> bool:
    return not pids_with(mark)
