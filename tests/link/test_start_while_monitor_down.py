"""A start that must wait for a new node monitor does not hold up the link's other commands.

The link handles the Conductor's commands one after another. A start waits while a lost
monitor is replaced (it needs one to spawn the job), and it waited right in that loop:
while no new monitor could be started, every command behind it waited too (log
requests, which need no monitor; secrets; streams), and a stop that came meanwhile was
read only after the start had run the job. Now such a start waits in the background,
as a start that opens tunnels does: it runs once a monitor is up, unless a stop came
meanwhile (its tombstone is checked after the wait), and the job never runs at all.

A real Conductor, node and monitor; the new monitor is kept from starting by holding
its lock (as a process forked from the old one does for a moment on its way out).
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import httpx
import trio

from tests.jobs.harness import monitor_pid, wait_real
from tests.link.cluster import shared_cert_node, start_conductor, start_node, wait_for
from tests.test_process_monitor_loss import _hold_lock_in_place


def _spec(name: str, command: list[str]) -> dict[str, Any]:
    return {
        "name": name,
        "node_group": "gpu-1",
        "capacity_requests": {"Analytic1": 1},
        "config": {"command": command},
    }


async def _instances(http: httpx.AsyncClient, name: str, state: str) -> list[dict[str, Any]]:
    body = (await http.get(f"/deployments/{name}")).json()
    return [i for i in body["instances"] if i["state"] == state]


async def test_link_start_waiting_for_a_monitor_does_not_hold_up_log_requests(
    tmp_path: Path,
) -> None:
    with trio.fail_after(90):
        async with trio.open_nursery() as nursery:
            info = await start_conductor(nursery, tmp_path / "c")
            node = await start_node(nursery, shared_cert_node(info, "n1", tmp_path / "n"))
            manager = node.processes
            headers = {"Authorization": f"Bearer {info.api_token}"} if info.api_token else {}
            async with httpx.AsyncClient(
                base_url=info.http_url, headers=headers, timeout=30
            ) as http:
                talker = _spec("talker", ["sh", "-c", "echo hello; exec sleep 1000"])
                assert (await http.post("/deployments", json=talker)).status_code == 201
                await wait_for(lambda: _instances(http, "talker", "running"), timeout=30)
                old_monitor = monitor_pid(manager.state_dir)
                assert old_monitor is not None
                lock = _hold_lock_in_place(manager.state_dir)  # no new monitor for now
                try:
                    os.kill(old_monitor, signal.SIGKILL)
                    await wait_real(lambda: manager._generation >= 2)  # a replacement failed
                    late = _spec("late", ["sleep", "1000"])
                    assert (await http.post("/deployments", json=late)).status_code == 201
                    # Sent to the node: its start waits for a monitor.
                    await wait_for(lambda: _instances(http, "late", "assigned"), timeout=10)
                    with trio.fail_after(10):  # behind that start, a log request
                        answer = await http.get("/deployments/talker/logs", params={"tail": 5})
                    assert answer.status_code == 200 and "hello" in answer.text, answer.text
                    assert manager.monitors_replaced == 0  # answered without a monitor
                finally:
                    os.close(lock)
                # Once a monitor is up, the start that waited runs.
                await wait_for(lambda: _instances(http, "late", "running"), timeout=30)
                assert await _instances(http, "talker", "running")
            await manager.shutdown_monitor(kill_jobs=True)
            nursery.cancel_scope.cancel()


async def test_link_stop_of_a_start_waiting_for_a_monitor_wins(tmp_path: Path) -> None:
    """The deployment is deleted while its start waits for a monitor: the DELETE is
    answered at once, and once a monitor is up the start never runs the job."""
    with trio.fail_after(90):
        async with trio.open_nursery() as nursery:
            info = await start_conductor(nursery, tmp_path / "c")
            node = await start_node(nursery, shared_cert_node(info, "n1", tmp_path / "n"))
            manager = node.processes
            updates = manager.subscribe()
            headers = {"Authorization": f"Bearer {info.api_token}"} if info.api_token else {}
            async with httpx.AsyncClient(
                base_url=info.http_url, headers=headers, timeout=30
            ) as http:
                first = _spec("first", ["sleep", "1000"])
                assert (await http.post("/deployments", json=first)).status_code == 201
                await wait_for(lambda: _instances(http, "first", "running"), timeout=30)
                lock = _hold_lock_in_place(manager.state_dir)
                try:
                    os.kill(monitor_pid(manager.state_dir), signal.SIGKILL)
                    await wait_real(lambda: manager._generation >= 2)
                    late = _spec("late", ["sleep", "1000"])
                    assert (await http.post("/deployments", json=late)).status_code == 201
                    [instance] = await wait_for(
                        lambda: _instances(http, "late", "assigned"), timeout=10
                    )
                    # Answered while still no monitor can start: nothing runs, nothing
                    # to wait for (it waited for its teardown's limit, 25 s, before).
                    with trio.fail_after(10):
                        deleted = await http.delete("/deployments/late")
                    assert deleted.status_code == 200, deleted.text
                    assert manager.monitors_replaced == 0
                finally:
                    os.close(lock)
                await wait_real(lambda: manager.monitors_replaced == 1, timeout=30)

                async def gone() -> bool:
                    return (await http.get("/deployments/late")).status_code == 404

                await wait_for(gone, timeout=30)
                assert await _instances(http, "first", "running")
            seen = []
            while True:
                try:
                    seen.append(updates.receive_nowait())
                except trio.WouldBlock:
                    break
            assert not [u.state for u in seen if u.instance_id == instance["id"]]
            assert instance["id"] not in {r.instance_id for r in await manager.list_instances()}
            await manager.shutdown_monitor(kill_jobs=True)
            nursery.cancel_scope.cancel()
