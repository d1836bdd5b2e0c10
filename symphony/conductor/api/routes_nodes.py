"""``GET /nodes``: every node with its state, groups, capacities and usage; ``POST
/nodes/{id}/drain`` and ``/undrain``: take a node out of placement and back in."""

from __future__ import annotations

import logging
import math
from typing import Any

from quart import Blueprint

from ..deployments import CapacityUsage
from ..nodes.model import ListNodes, NodeView, SetDraining
from .app import context
from .errors import HttpError
from .gpu_view import Holders, gpu_devices, holders_of

nodes = Blueprint("nodes", __name__)
log = logging.getLogger("symphony.conductor.api")

#: How deep a node's resources/usage may nest in an answer (the wire allows 8).
_MAX_DEPTH = 8


@nodes.get("/nodes")
async def list_nodes() -> dict[str, Any]:
    ctx = context()
    views = await ctx.registry.ask(ListNodes(), timeout=5)
    used = await ctx.scheduler.ask(CapacityUsage(), timeout=5)
    holders = await holders_of(ctx, views)
    return {"nodes": [node_json(view, used.get(view.node_id, {}), holders) for view in views]}


@nodes.post("/nodes/<node_id>/drain")
async def drain_node(node_id: str) -> dict[str, Any]:
    """Drain: the node keeps running what it runs, gets nothing new, and each of its
    replicas is moved elsewhere (replacement first). Idempotent."""
    return await _set_draining(node_id, True)


@nodes.post("/nodes/<node_id>/undrain")
async def undrain_node(node_id: str) -> dict[str, Any]:
    """Undrain: the node takes new work again; moves not yet done are called off."""
    return await _set_draining(node_id, False)


async def _set_draining(node_id: str, draining: bool) -> dict[str, Any]:
    ctx = context()
    view = await ctx.registry.ask(SetDraining(node_id, draining), timeout=5)
    if view is None:
        raise HttpError(404, "not found", f"no node {node_id!r}")
    used = await ctx.scheduler.ask(CapacityUsage(), timeout=5)
    holders = await holders_of(ctx, [view])
    return node_json(view, used.get(node_id, {}), holders)


def node_json(
    view: NodeView, used: dict[str, int], holders: Holders | None = None
) -> dict[str, Any]:
    """A node with its reserved capacity (owned by the scheduler) and each GPU device
    with the instance holding it (``holders``, from the store) filled in.

    What a node reported (``resources``, ``usage``) is validated on the wire already;
    it is made plain JSON here once more, so that one node's odd data can never break
    a listing of every node (bytes or NaN there once made ``GET /nodes`` a 500).
    """
    data = view.to_json()
    data["capacities_used"] = {name: used.get(name, 0) for name in view.capacities_total}
    data["gpu_devices"] = gpu_devices(view, holders or {})
    for field in ("resources", "usage"):
        clean = plain_json(data[field], _MAX_DEPTH)
        if clean != data[field]:
            log.warning("node %r: %s held values that are not JSON; left out", view.node_id, field)
        data[field] = clean
    return data


def plain_json(value: Any, depth: int) -> Any:
    """``value`` with everything JSON cannot show replaced by ``None``: non-string keys,
    bytes and other types, NaN and infinities, and containers nested below ``depth``."""
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if depth <= 0:
        return None
    if isinstance(value, dict):
        return {k: plain_json(v, depth - 1) for k, v in value.items() if isinstance(k, str)}
    if isinstance(value, list | tuple):
        return [plain_json(v, depth - 1) for v in value]
    return None
