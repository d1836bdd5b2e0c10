"""A real Conductor on 127.0.0.1 and the HTTP calls the join tests make (no tests here)."""

from __future__ import annotations

import functools
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import trio

from symphony.conductor import ConductorInfo, run_conductor
from symphony.config import ConductorConfig, NodeConfig
from symphony.node import NodeHandle, run_node


async def start_conductor(nursery: trio.Nursery, state_dir: Path) -> ConductorInfo:
    config = ConductorConfig(
        state_dir=state_dir, listen_host="127.0.0.1", listen_port=0, http_port=0
    )
    return await nursery.start(run_conductor, config)


def api_headers(info: ConductorInfo) -> dict[str, str]:
    token = (info.state_dir / "api-token").read_text().strip()
    return {"Authorization": f"Bearer {token}"}


async def api(info: ConductorInfo, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(base_url=info.http_url, headers=api_headers(info)) as client:
        return await client.request(method, path, timeout=5, **kwargs)


async def create_token(info: ConductorInfo, **body: Any) -> dict[str, Any]:
    response = await api(info, "POST", "/tokens", json=body)
    assert response.status_code == 201, response.text
    return response.json()


def join_node(
    info: ConductorInfo, node_id: str, state_dir: Path, created: dict[str, Any] | None, **kw: Any
) -> NodeConfig:
    """A node that enrols with ``created`` (a POST /tokens answer), or, with None, one
    that relies on what an earlier join stored."""
    fields: dict[str, Any] = {
        "node_id": node_id,
        "conductor_host": "127.0.0.1",
        "conductor_port": info.node_port,
        "groups": ("gpu-1",),
        "capacities_total": {"Analytic1": 10},
        "heartbeat_sec": 0.5,
        "state_dir": state_dir,
    }
    if created is not None:
        fields.update(
            join_addr=f"127.0.0.1:{info.node_port}",
            join_token=created["token"],
            join_ca_hash=created["ca_hash"],
        )
    fields.update(kw)
    return NodeConfig(**fields)


async def start_node(nursery: trio.Nursery, config: NodeConfig) -> NodeHandle:
    return await nursery.start(functools.partial(run_node, config))


async def nodes(info: ConductorInfo) -> dict[str, dict[str, Any]]:
    response = await api(info, "GET", "/nodes")
    assert response.status_code == 200, response.text
    return {node["node_id"]: node for node in response.json()["nodes"]}


async def wait_ready(info: ConductorInfo, node_id: str, timeout: float = 10.0) -> dict[str, Any]:
    with trio.fail_after(timeout):
        while True:
            node = (await nodes(info)).get(node_id)
            if node is not None and node["state"] == "ready":
                return node
            await trio.sleep(0.05)


class Captured(logging.Handler):
    """Every log record of every logger, formatted with its arguments and tracebacks."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def text(self) -> str:
        formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
        return "\n".join(formatter.format(r) for r in self.records)


@contextmanager
def capture_logs() -> Iterator[Captured]:
    handler = Captured()
    root = logging.getLogger()
    old = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield handler
    finally:
        root.removeHandler(handler)
        root.setLevel(old)
