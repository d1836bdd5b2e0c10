"""A real Conductor (and optionally a real node) in-process, with an httpx client."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import trio

from symphony.conductor import ConductorInfo
from symphony.node import NodeHandle
from symphony.node.process import monitor_gone, stop_monitor

from ..link.cluster import shared_cert_node, start_conductor, start_node


@dataclass
class Cluster:
    info: ConductorInfo
    http: httpx.AsyncClient  # carries the token
    nursery: trio.Nursery
    tmp: Path
    #: The state dirs of the nodes started through it: their jobs end with it.
    node_dirs: list[Path] = field(default_factory=list)

    async def add_node(self, node_id: str, **overrides: Any) -> NodeHandle:
        """Start another node (state in ``tmp/node_id``) whose jobs end with the cluster."""
        state_dir = self.tmp / node_id
        self.node_dirs.append(state_dir)
        return await start_node(
            self.nursery, shared_cert_node(self.info, node_id, state_dir, **overrides)
        )

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
    with ``Analytic1: 10`` (and ``node_overrides``), ready before this yields.

    On exit the nodes' jobs and monitors end too (they are built to outlive their agent):
    a service left listening would hold a port that a later test's node finds taken."""
    node_dirs: list[Path] = []
    try:
        async with trio.open_nursery() as nursery:
            info = await start_conductor(nursery, tmp_path / "conductor", **overrides)
            headers = {"Authorization": f"Bearer {info.api_token}"} if info.api_token else {}
            async with httpx.AsyncClient(
                base_url=info.http_url, headers=headers, timeout=10
            ) as http:
                c = Cluster(info, http, nursery, tmp_path, node_dirs)
                if node:
                    await c.add_node("n1", **(node_overrides or {}))
                    with trio.fail_after(10):
                        while not await _ready(http):
                            await trio.sleep(0.02)
                yield c
            nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True), trio.move_on_after(30):
            for state_dir in node_dirs:  # the agents are gone: no monitor comes back
                await stop_monitor(state_dir / "jobs")
                await monitor_gone(state_dir / "jobs")


async def _ready(http: httpx.AsyncClient) -> bool:
    nodes = (await http.get("/nodes")).json()["nodes"]
    return any(n["state"] == "ready" for n in nodes)


def sh(script: str, name: str, **extra: Any) -> dict[str, Any]:
    """A spec running ``script`` with sh (stdout and stderr go to the node's log files)."""
    spec: dict[str, Any] = {"name": name, "config": {"command": ["sh", "-c", script]}}
    spec.update(extra)
    return spec


PYTHON = sys.executable
