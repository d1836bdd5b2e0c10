"""How a node's report maps onto the Conductor's instance record (``apply_update``)."""

from __future__ import annotations

import functools
import time
from pathlib import Path
from typing import Any

import httpx
import trio

from symphony.conductor.deployments.instances import apply_update
from symphony.conductor.store import InstanceRecord
from symphony.node.link import GetLinkStatus
from symphony.wire import InstanceStatus
from tests.deployments.helpers import pids_with
from tests.link.cluster import shared_cert_node, start_conductor, start_node, wait_for
from tests.link.test_reconnect import conductor_life


def _running(**fields: object) -> InstanceRecord:
    base: dict = {"id": "web-0-abc", "deployment_id": "d", "replica": 0, "node_id": "n1"}
    return InstanceRecord(**{**base, **fields})  # type: ignore[arg-type]


def _status(**fields: object) -> InstanceStatus:
    base: dict = {"instance_id": "web-0-abc", "deployment_id": "d"}
    return InstanceStatus(**{**base, **fields})  # type: ignore[arg-type]


def test_report_started_at_is_the_process_start_not_the_report_time() -> None:
    record = apply_update(
        _running(state="assigned"), _status(state="running", pid=7, started_at=100.0, at=500.0)
    )
    assert record.started_at == 100.0
    # A later report of the same process (an agent restart's hello) keeps it...
    again = apply_update(record, _status(state="running", pid=7, started_at=100.0, at=900.0))
    assert again.started_at == 100.0
    # ...and so does one from a version-1 node, which sends no start time.
    v1 = apply_update(record, _status(state="running", pid=7, at=900.0))
    assert v1.started_at == 100.0
    # A new process (a restart) starts a new age.
    restarted = apply_update(record, _status(state="running", pid=8, at=950.0))
    assert restarted.started_at == 950.0


def test_report_stopped_records_its_exit() -> None:
    record = _running(state="stopping", pid=7, started_at=100.0)
    stopped = apply_update(
        record, _status(state="stopped", signal=9, final=True, finished_at=120.0, at=121.0)
    )
    assert (stopped.state, stopped.signal, stopped.exit_code) == ("stopped", "SIGKILL", None)
    assert stopped.finished_at == 120.0 and stopped.pid is None


async def test_report_exit_during_a_conductor_outage_is_recorded_as_an_event(
    tmp_path: Path,
) -> None:
    # An on-failure job exits with 3 while the Conductor is down; the node restarts it.
    # The hello after the outage shows it running again: the exit itself must still
    # reach the Conductor, as an `exited` event with its code.
    go = tmp_path / "go"
    script = "if [ -f once ]; then exec sleep 1000; fi; touch once; "
    script += f"while [ ! -f {go} ]; do sleep 0.02; done; exit 3"
    spec = {
        "name": "flaky",
        "node_group": "gpu-1",
        "capacity_requests": {"Analytic1": 1},
        "config": {"command": ["sh", "-c", script]},
        "restart_policy": {"type": "on-failure", "backoff_seconds": 0.1},
    }
    async with trio.open_nursery() as nursery:
        first_life = trio.CancelScope()
        info = await nursery.start(functools.partial(conductor_life, first_life, tmp_path / "c"))
        node = await start_node(nursery, shared_cert_node(info, "n1", tmp_path / "n"))
        async with _api(info) as http:
            assert (await http.post("/deployments", json=spec)).status_code == 201

            async def running() -> bool:
                body = (await http.get("/deployments/flaky")).json()
                return any(i["state"] == "running" for i in body["instances"])

            await wait_for(running, timeout=30)
        first_life.cancel()

        async def disconnected() -> bool:
            return (await node.link.ask(GetLinkStatus())).state != "connected"

        await wait_for(disconnected, timeout=10)
        go.touch()

        async def restarted() -> bool:
            reports = await node.processes.list_instances()
            return bool(reports) and reports[0].restarts == 1 and reports[0].state == "running"

        await wait_for(restarted, timeout=30)
        again = await nursery.start(
            functools.partial(
                conductor_life, trio.CancelScope(), tmp_path / "c", listen_port=info.node_port
            )
        )
        async with _api(again) as http:

            async def exited_event() -> list[dict]:
                events = (await http.get("/deployments/flaky/events")).json()["events"]
                return [e for e in events if e["kind"] == "exited"]

            (event,) = await wait_for(exited_event, timeout=30)
            assert event["data"]["exit_code"] == 3

            async def running_again() -> list[dict]:
                body = (await http.get("/deployments/flaky")).json()
                return [i for i in body["instances"] if i["state"] == "running"]

            (instance,) = await wait_for(running_again, timeout=30)
            assert instance["restarts"] == 1
        await node.processes.shutdown_monitor(kill_jobs=True)
        nursery.cancel_scope.cancel()


def _api(info: Any) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {info.api_token}"} if info.api_token else {}
    return httpx.AsyncClient(base_url=info.http_url, headers=headers, timeout=10)


async def test_report_one_exit_is_one_exited_event_with_its_code(tmp_path: Path) -> None:
    spec = {
        "name": "one",
        "node_group": "gpu-1",
        "capacity_requests": {"Analytic1": 1},
        "config": {"command": ["sh", "-c", "exit 4"]},
        "restart_policy": {"type": "never"},
    }
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        node = await start_node(nursery, shared_cert_node(info, "n1", tmp_path / "n"))
        async with _api(info) as http:
            assert (await http.post("/deployments", json=spec)).status_code == 201

            async def instances() -> list[dict]:
                return (await http.get("/deployments/one")).json()["instances"]

            await wait_for(lambda: _with_state(instances, "exited"), timeout=30)
            await trio.sleep(0.5)  # a second report would have arrived by now
            events = (await http.get("/deployments/one/events")).json()["events"]
            exits = [e for e in events if e["kind"] == "exited"]
            assert [e["data"].get("exit_code") for e in exits] == [4]
            (instance,) = await instances()
            assert (instance["exit_code"], instance["finished_at"] is not None) == (4, True)
        await node.processes.shutdown_monitor(kill_jobs=True)
        nursery.cancel_scope.cancel()


async def node_life(
    scope: trio.CancelScope, config: Any, *, task_status: Any = trio.TASK_STATUS_IGNORED
) -> None:
    """Run a node agent until ``scope`` is cancelled (its jobs stay, with the monitor)."""
    with scope:
        async with trio.open_nursery() as nursery:
            task_status.started(await start_node(nursery, config))
            await trio.sleep_forever()


async def test_report_exit_during_an_agent_outage_past_the_node_timeout(tmp_path: Path) -> None:
    # A `never` job exits while its agent is down for longer than the node timeout.
    # When the agent returns, its hello says so: the instance shows `exited` with the
    # code (not `lost`), an `exited` event is written, and the job is not run again.
    go, runs = tmp_path / "go", tmp_path / "runs"
    marker = f"once-{tmp_path.name}"
    script = f"echo run >> {runs}; while [ ! -f {go} ]; do sleep 0.02; done; exit 7"
    spec = {
        "name": "once",
        "node_group": "gpu-1",
        "capacity_requests": {"Analytic1": 1},
        "config": {"command": ["sh", "-c", script, marker]},
        "restart_policy": {"type": "never"},
    }
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c", node_timeout_sec=1.0)
        config = shared_cert_node(info, "n1", tmp_path / "n", heartbeat_sec=0.2)
        first = trio.CancelScope()
        node = await nursery.start(functools.partial(node_life, first, config))
        async with _api(info) as http:

            async def instances() -> list[dict]:
                return (await http.get("/deployments/once")).json()["instances"]

            assert (await http.post("/deployments", json=spec)).status_code == 201
            await wait_for(lambda: _with_state(instances, "running"), timeout=30)
            first.cancel()  # the agent goes; the job stays with the monitor
            await wait_for(lambda: _with_state(instances, "lost"), timeout=30)
            go.touch()
            await wait_for(lambda: _no_job(node, marker), timeout=30)
            second = trio.CancelScope()
            node = await nursery.start(functools.partial(node_life, second, config))

            async def exited() -> list[dict]:
                return [i for i in await instances() if i["state"] == "exited"]

            (instance,) = await wait_for(exited, timeout=30)
            await trio.sleep(1.0)  # a replacement would be placed and started by now
            assert runs.read_text().splitlines() == ["run"]  # it ran once
            assert [i["state"] for i in await instances()] == ["exited"]
            assert instance["exit_code"] == 7
            events = (await http.get("/deployments/once/events")).json()["events"]
            assert [e["data"].get("exit_code") for e in events if e["kind"] == "exited"] == [7]
        await node.processes.shutdown_monitor(kill_jobs=True)
        nursery.cancel_scope.cancel()


async def _with_state(instances: Any, state: str) -> bool:
    return any(i["state"] == state for i in await instances())


async def _no_job(node: Any, marker: str) -> bool:
    return not pids_with(marker)


async def test_report_backoff_wait_is_restarting_with_its_restart_time(tmp_path: Path) -> None:
    # A job that fails waits out its backoff: the API, `symphony ps` and the events all
    # call that `restarting` (not `starting`) and say when the next run starts.
    from symphony.cli.ps import ps_rows

    spec = {
        "name": "crashy",
        "node_group": "gpu-1",
        "capacity_requests": {"Analytic1": 1},
        "config": {"command": ["sh", "-c", "exit 1"]},
        "restart_policy": {"type": "on-failure", "backoff_seconds": 60},
    }
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        node = await start_node(nursery, shared_cert_node(info, "n1", tmp_path / "n"))
        async with _api(info) as http:
            assert (await http.post("/deployments", json=spec)).status_code == 201

            async def waiting() -> dict | None:
                body = (await http.get("/deployments/crashy")).json()
                inst = body["instances"][0]
                return body if inst["restart_at"] is not None else None

            body = await wait_for(waiting, timeout=30)
            (inst,) = body["instances"]
            now = time.time()
            assert inst["state"] == "restarting" and inst["exit_code"] == 1
            assert now < inst["restart_at"] <= now + 60 * 1.1 + 1  # 10 % jitter
            assert inst["finished_at"] is None and inst["node_id"] == "n1"
            (row,) = ps_rows([body], show_all=False, wide=False, now=inst["restart_at"] - 3.8)
            assert (row[3], row[-1]) == ("restarting", "restarting in 3.8s")
            events = (await http.get("/deployments/crashy/events")).json()["events"]
            (event,) = [e for e in events if e["kind"] == "restarting"]
            assert event["data"]["restart_at"] == inst["restart_at"]
            assert "restarting in" in event["message"]
            (n1,) = (await http.get("/nodes")).json()["nodes"]
            # Waiting to restart still holds its capacity on the node.
            assert n1["capacities_used"] == {"Analytic1": 1}
        await node.processes.shutdown_monitor(kill_jobs=True)
        nursery.cancel_scope.cancel()


def test_report_applied_keeps_every_field_it_does_not_change() -> None:
    # apply_update builds the new record without dataclasses.replace (four times per
    # restart): the result must be the same record replace would give.
    import dataclasses

    record = _running(
        state="running",
        pid=7,
        restarts=2,
        exit_code=3,
        reason="r",
        reservation={"A": 1},
        generation=4,
        started_at=100.0,
        updated_at=5.0,
        network={"ports": {"http": 1}},
        version=3,
        devices=("0",),
    )
    update = _status(state="exited", signal=9, restarts=3, final=False, at=200.0)
    applied = apply_update(record, update)
    expected = dataclasses.replace(
        record, state="restarting", restarts=3, pid=None, exit_code=None, signal="SIGKILL"
    )
    assert applied == expected
    assert type(applied.state) is type(expected.state)
