"""A node whose monitor cannot be replaced just now still connects, keeping its jobs.

The hello carries what the node runs, and it waited for the process manager's list,
which waits while a lost monitor is replaced. While no new monitor could be started
(here: its lock held, as by a process forked from the old one on its way out), a node
that had to connect (the Conductor restarted) could not say hello at all: the Conductor
would declare it lost and place its instances again while their jobs ran on. Now the
hello waits a moment, then reports each instance as it was when the monitor was lost;
the link comes up, the instance stays running with its pid, and once a monitor can be
started it re-adopts the job (not restarted).

A real Conductor (restarted on the same port and state) and a real node and monitor.
"""

from __future__ import annotations

import functools
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import trio

from symphony.node.link import GetLinkStatus
from tests.jobs.harness import ended, monitor_pid, wait_real
from tests.link.cluster import node_state, shared_cert_node, start_node, wait_for
from tests.link.test_reconnect import conductor_life
from tests.test_process_monitor_loss import _hold_lock_in_place

SPEC = {
    "name": "steady",
    "node_group": "gpu-1",
    "capacity_requests": {"Analytic1": 1},
    "config": {"command": ["sleep", "1000"]},
}


def _http(info: Any) -> httpx.AsyncClient:
    headers = {"Authorization": f"Bearer {info.api_token}"} if info.api_token else {}
    return httpx.AsyncClient(base_url=info.http_url, headers=headers, timeout=10)


async def _instance(info: Any) -> dict[str, Any] | None:
    async with _http(info) as http:
        body = (await http.get("/deployments/steady")).json()
    return body["instances"][0] if body["instances"] else None


async def test_link_comes_up_while_the_monitor_cannot_be_replaced(tmp_path: Path) -> None:
    with trio.fail_after(90):
        async with trio.open_nursery() as nursery:
            first_life = trio.CancelScope()
            life = functools.partial(conductor_life, first_life, tmp_path / "c")
            info = await nursery.start(life)
            node = await start_node(nursery, shared_cert_node(info, "n1", tmp_path / "n"))
            async with _http(info) as http:
                assert (await http.post("/deployments", json=SPEC)).status_code == 201

            async def running_on(conductor: Any) -> dict[str, Any] | None:
                found = await _instance(conductor)
                return found if found and found["state"] == "running" else None

            before = await wait_for(lambda: running_on(info), timeout=30)
            manager = node.processes
            old_monitor = monitor_pid(manager.state_dir)
            assert old_monitor is not None
            lock = _hold_lock_in_place(manager.state_dir)  # no new monitor for now
            try:
                os.kill(old_monitor, signal.SIGKILL)
                await wait_real(lambda: manager._generation >= 2)  # a replacement failed

                first_life.cancel()  # the Conductor restarts: the node must say hello

                async def first_life_over() -> bool:
                    return first_life.cancelled_caught

                await wait_for(first_life_over, timeout=10)
                again = await nursery.start(
                    functools.partial(
                        conductor_life,
                        trio.CancelScope(),
                        tmp_path / "c",
                        listen_port=info.node_port,
                    )
                )

                async def connected_again() -> bool:
                    status = await node.link.ask(GetLinkStatus())
                    return status.state == "connected" and status.connects == 2

                await wait_for(connected_again, timeout=30)
                assert await node_state(again, "n1") == "ready"
                during = await running_on(again)
                assert during is not None and during["pid"] == before["pid"]
                assert manager.monitors_replaced == 0  # all the while without a monitor
            finally:
                os.close(lock)

            await wait_real(lambda: manager.monitors_replaced == 1, timeout=30)
            await trio.sleep(1.0)  # the re-adoption's updates reach the Conductor
            after = await running_on(again)
            assert after is not None
            assert (after["id"], after["pid"], after["restarts"]) == (
                before["id"],
                before["pid"],
                before["restarts"],
            )
            assert not ended(before["pid"])
            await manager.shutdown_monitor(kill_jobs=True)
            nursery.cancel_scope.cancel()
