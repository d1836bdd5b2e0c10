"""A Conductor and one node agent as real processes, reached through the HTTP API."""

from __future__ import annotations

from pathlib import Path

from . import procs
from .helpers import Api, eventually


async def one_node_cluster(
    tmp_path: Path, *, capacity: int
) -> tuple[procs.Service, procs.Service, Api]:
    """Start both, wait until the node is ready; the caller kills them."""
    node_port, http_port = procs.free_port(), procs.free_port()
    conductor = procs.conductor(
        tmp_path, node_port=node_port, http_port=http_port, node_timeout=30
    ).start()
    api = Api(f"http://127.0.0.1:{http_port}")

    async def healthy() -> bool:
        try:
            return (await api.http.get("/healthz")).status_code == 200
        except Exception:
            return False

    await eventually(healthy, timeout=20)
    node = procs.node(tmp_path, "worker", node_port=node_port, capacity=capacity).start()
    await eventually(lambda: node_state(api, "ready"), timeout=20)
    return conductor, node, api


async def node_state(api: Api, state: str) -> bool:
    """Whether the one node is in ``state``."""
    return [n["state"] for n in await api.nodes()] == [state]


async def used(api: Api) -> int:
    """Capacity reserved on all nodes, summed over classes."""
    return sum(sum(n["capacities_used"].values()) for n in await api.nodes())
