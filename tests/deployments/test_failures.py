"""Failures with real processes: an agent killed, a node frozen, a Conductor killed.

These wait in real time: the timers run in other processes. Timeouts are small (0.3 s
heartbeats, 1.5 s node timeout) so each test takes a few seconds.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest
import trio

from . import procs
from .helpers import Api, eventually, job, live, mark, pids_with, running


@pytest.fixture
def ports() -> Iterator[tuple[int, int]]:
    yield procs.free_port(), procs.free_port()


async def start_cluster(
    tmp_path: Path, ports: tuple[int, int], node_ids: list[str], *, node_timeout: float = 1.5
) -> tuple[procs.Service, dict[str, procs.Service], Api]:
    node_port, http_port = ports
    conductor = procs.conductor(
        tmp_path, node_port=node_port, http_port=http_port, node_timeout=node_timeout
    ).start()
    api = Api(f"http://127.0.0.1:{http_port}")

    async def healthy() -> bool:
        try:
            return (await api.http.get("/healthz")).status_code == 200
        except Exception:
            return False

    await eventually(healthy, timeout=20)
    nodes = {n: procs.node(tmp_path, n, node_port=node_port).start() for n in node_ids}

    async def all_ready() -> bool:
        states = {n["node_id"]: n["state"] for n in await api.nodes()}
        return all(states.get(n) == "ready" for n in node_ids)

    await eventually(all_ready, timeout=20)
    return conductor, nodes, api


async def test_agent_sigkill_and_restart_nothing_restarts(
    tmp_path: Path, ports: tuple[int, int]
) -> None:
    # The agent is back well within the node timeout: the node was only disconnected.
    conductor, nodes, api = await start_cluster(tmp_path, ports, ["worker"], node_timeout=20)
    try:
        assert (await api.post(job("survivor"))).status_code == 201
        before = await eventually(lambda: _one_running(api, "survivor"))
        pid = before["pid"]
        nodes["worker"].kill()  # SIGKILL: the agent dies, the job must not
        assert psutil.pid_exists(pid)

        async def disconnected() -> bool:
            return (await api.nodes())[0]["state"] == "disconnected"

        await eventually(disconnected)
        nodes["worker"].start()  # a new agent on the same state dir re-adopts

        async def ready_again() -> bool:
            return (await api.nodes())[0]["state"] == "ready"

        await eventually(ready_again)
        await trio.sleep(1.0)  # let any (wrong) restart or duplicate show itself
        after = await api.get("survivor")
        assert [i["pid"] for i in running(after)] == [pid]
        assert running(after)[0]["restarts"] == 0
        assert len(live(after)) == 1
        assert pids_with(mark("survivor")) == [pid]  # nothing runs twice
    finally:
        _stop_all(conductor, nodes)
        await api.aclose()


async def test_frozen_node_is_lost_rescheduled_and_its_stale_copy_stopped(
    tmp_path: Path, ports: tuple[int, int]
) -> None:
    conductor, nodes, api = await start_cluster(tmp_path, ports, ["a-node", "b-node"])
    try:
        assert (await api.post(job("mover"))).status_code == 201
        first = await eventually(lambda: _one_running(api, "mover"))
        frozen = nodes[first["node_id"]]
        other = "b-node" if first["node_id"] == "a-node" else "a-node"
        frozen.signal(signal.SIGSTOP)  # link open, no heartbeats: lost by the timeout alone

        async def moved() -> dict | None:
            d = await api.get("mover")
            return d if [i["node_id"] for i in running(d)] == [other] else None

        deployment = await eventually(moved, timeout=20)
        lost = next(i for i in deployment["instances"] if i["id"] == first["id"])
        assert lost["state"] == "lost"
        assert "lost" in lost["reason"]
        states = {n["node_id"]: n["state"] for n in await api.nodes()}
        assert states[first["node_id"]] == "lost"
        assert psutil.pid_exists(first["pid"])  # the stale copy still runs on the frozen node
        frozen.signal(signal.SIGCONT)

        async def stale_copy_gone() -> bool:
            return not _alive(first["pid"])

        await eventually(stale_copy_gone, timeout=20)
        d = await api.get("mover")
        assert len(running(d)) == 1 and running(d)[0]["node_id"] == other
        replacement_pid = running(d)[0]["pid"]
        assert pids_with(mark("mover")) == [replacement_pid]
    finally:
        _stop_all(conductor, nodes)
        await api.aclose()


async def test_conductor_sigkill_right_after_post_keeps_everything(
    tmp_path: Path, ports: tuple[int, int]
) -> None:
    conductor, nodes, api = await start_cluster(tmp_path, ports, ["worker"])
    try:
        assert (await api.post(job("steady"))).status_code == 201
        steady = await eventually(lambda: _one_running(api, "steady"))
        response = await api.post(job("just-posted"))
        assert response.status_code == 201
        conductor.kill()  # right after the acknowledgement
        conductor.start()

        async def back() -> dict | None:
            try:
                d = await api.get("just-posted")
            except Exception:
                return None
            return d if running(d) else None

        posted = await eventually(back, timeout=30)
        assert len(live(posted)) == 1
        assert len(pids_with(mark("just-posted"))) == 1
        await trio.sleep(1.0)
        after = await api.get("steady")
        # The job that ran before the crash was adopted, not restarted.
        assert [i["pid"] for i in running(after)] == [steady["pid"]]
        assert running(after)[0]["restarts"] == 0
        assert pids_with(mark("steady")) == [steady["pid"]]
    finally:
        _stop_all(conductor, nodes)
        await api.aclose()


async def _one_running(api: Api, name: str) -> dict | None:
    d = await api.get(name)
    return running(d)[0] if len(running(d)) == 1 and running(d)[0]["pid"] else None


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def _stop_all(conductor: procs.Service, nodes: dict[str, procs.Service]) -> None:
    for service in nodes.values():
        with contextlib.suppress(ProcessLookupError):
            service.signal(signal.SIGCONT)
        service.kill()
    conductor.kill()
