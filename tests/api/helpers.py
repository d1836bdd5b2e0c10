"""A real Conductor (and optionally a real node) in-process, with an httpx client."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import trio

from symphony.conductor import ConductorInfo

from ..link.cluster import shared_cert_node, start_conductor, start_node


@dataclass
class Cluster:
    info: ConductorInfo
    http: httpx.AsyncClient  # carries the token
    nursery: trio.Nursery
    tmp: Path

    async def wait_running(self, name: str, *, timeout: float = 10.0) -> dict[str, Any]:
        """The deployment once it has a running instance."""
        return await self.wait_for(
            name, lambda d: any(i["state"] == "running" for i in d["instances"]), timeout
        )

    async def wait_for(self, name: str, check: Any, timeout: float = 10.0) -> dict[str, Any]:
        last = None
        with trio.move_on_after(timeout):
            while True:
                response = await self.http.get(f"/deployments/{name}")
                last = response.json()
                if response.status_code == 200 and check(last):
                    return last
                await trio.sleep(0.02)
        raise AssertionError(f"{name}: condition not met in {timeout} s; last: {last}")


@contextlib.asynccontextmanager
async def cluster(
    tmp_path: Path,
    *,
    node: bool = True,
    node_overrides: dict[str, Any] | None = None,
    **overrides: Any,
) -> AsyncIterator[Cluster]:
    """A Conductor on 127.0.0.1 (ports 0) and, with ``node``, node ``n1`` in group gpu-1
    with ``Analytic1: 10`` (and ``node_overrides``), ready before this yields."""
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "conductor", **overrides)
        headers = {"Authorization": f"Bearer {info.api_token}"} if info.api_token else {}
        async with httpx.AsyncClient(base_url=info.http_url, headers=headers, timeout=10) as http:
            if node:
                config = shared_cert_node(info, "n1", tmp_path / "n1", **(node_overrides or {}))
                await start_node(nursery, config)
                with trio.fail_after(10):
                    while not await _ready(http):
                        await trio.sleep(0.02)
            yield Cluster(info, http, nursery, tmp_path)
        nursery.cancel_scope.cancel()


async def _ready(http: httpx.AsyncClient) -> bool:
    nodes = (await http.get("/nodes")).json()["nodes"]
    return any(n["state"] == "ready" for n in nodes)


def sh(script: str, name: str, **extra: Any) -> dict[str, Any]:
    """A spec running ``script`` with sh (stdout and stderr go to the node's log files)."""
    spec: dict[str, Any] = {"name": name, "config": {"command": ["sh", "-c", script]}}
    spec.update(extra)
    return spec


PYTHON = sys.executable
