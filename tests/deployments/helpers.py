"""HTTP helpers for deployment tests against a real Conductor."""

from __future__ import annotations

import os
import secrets
import signal
import sys
from pathlib import Path
from typing import Any

import httpx
import psutil
import trio

from . import procs

#: Ours among the processes of the machine: other test runs (the same tests, in another
#: checkout or at the same time) start jobs with the same names.
RUN = f"{os.getpid()}-{secrets.token_hex(4)}"


def mark(name: str) -> str:
    """The argument that the processes of job ``name`` of this test run carry
    (``pids_with(mark(name))`` finds them, and no other run's)."""
    return f"{name}@{RUN}"


def job(name: str, *, seconds: int = 300, **extra: Any) -> dict[str, Any]:
    """A long-running job spec; its processes carry ``mark(name)`` in their command line."""
    spec: dict[str, Any] = {
        "name": name,
        "node_group": "gpu-1",
        "capacity_requests": {"Analytic1": 1},
        "config": {
            "command": [sys.executable, "-c", f"import time; time.sleep({seconds})", mark(name)],
        },
        "restart_policy": {"type": "on-failure", "backoff_seconds": 0.1},
    }
    spec.update(extra)
    return spec


class Api:
    """A tiny async client bound to one Conductor (tests only; the real one is
    ``symphony.client``)."""

    def __init__(self, url: str, token: str | None = None) -> None:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.http = httpx.AsyncClient(base_url=url, headers=headers, timeout=30)

    async def post(self, spec: dict[str, Any]) -> httpx.Response:
        return await self.http.post("/deployments", json=spec)

    async def get(self, name: str) -> dict[str, Any]:
        response = await self.http.get(f"/deployments/{name}")
        assert response.status_code == 200, response.text
        return response.json()

    async def all(self) -> list[dict[str, Any]]:
        return (await self.http.get("/deployments")).json()["deployments"]

    async def patch(self, name: str, patch: dict[str, Any]) -> httpx.Response:
        return await self.http.patch(f"/deployments/{name}", json=patch)

    async def delete(self, name: str) -> httpx.Response:
        return await self.http.delete(f"/deployments/{name}")

    async def nodes(self) -> list[dict[str, Any]]:
        return (await self.http.get("/nodes")).json()["nodes"]

    async def wait_healthy(self, *, timeout: float = 30.0) -> None:
        """Wait until the Conductor answers ``GET /healthz`` (it is starting)."""

        async def healthy() -> bool:
            try:
                return (await self.http.get("/healthz")).status_code == 200
            except Exception:
                return False

        await eventually(healthy, timeout=timeout)

    async def aclose(self) -> None:
        await self.http.aclose()


def live(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in deployment["instances"] if i["finished_at"] is None]


def running(deployment: dict[str, Any]) -> list[dict[str, Any]]:
    return [i for i in deployment["instances"] if i["state"] == "running"]


async def eventually(check: Any, *, timeout: float = 15.0, interval: float = 0.05) -> Any:
    """Await ``check()`` until it returns something truthy (real time; the timers here
    run in other processes or in the operating system)."""
    last: Any = None
    with trio.move_on_after(timeout):
        while True:
            last = await check()
            if last:
                return last
            await trio.sleep(interval)
    raise AssertionError(f"condition not met within {timeout} s; last value: {last!r}")


async def tear_down_node(
    agent: procs.Service, conductor: procs.Service, api: Api, jobs_dir: Path
) -> None:
    """Kill a test's node agent and Conductor processes, close its API client, and
    SIGKILL whatever still runs from the node's jobs directory (monitor and jobs)."""
    agent.kill()
    conductor.kill()
    await api.aclose()
    for pid in pids_with(str(jobs_dir), substring=True):
        os.kill(pid, signal.SIGKILL)


def pids_with(marker: str, *, substring: bool = False) -> list[int]:
    """Pids of live processes with ``marker`` as an argument (or inside one)."""
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "status"]):
        try:
            if proc.info["status"] == psutil.STATUS_ZOMBIE:
                continue
            parts = proc.info["cmdline"] or ()
            if any(marker in part if substring else marker == part for part in parts):
                found.append(proc.pid)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found
