"""``GET /nodes``: every node with its state, groups, capacities and usage."""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from ..deployments import CapacityUsage
from ..nodes.model import ListNodes, NodeView
from .app import context

nodes = Blueprint("nodes", __name__)


@nodes.get("/nodes")
async def list_nodes() -> dict[str, Any]:
    ctx = context()
    views = await ctx.registry.ask(ListNodes(), timeout=5)
    used = await ctx.scheduler.ask(CapacityUsage(), timeout=5)
    return {"nodes": [node_json(view, used.get(view.node_id, {})) for view in views]}


def node_json(view: NodeView, used: dict[str, int]) -> dict[str, Any]:
    """A node with its reserved capacity (owned by the scheduler) filled in."""
    data = view.to_json()
    data["capacities_used"] = {name: used.get(name, 0) for name in view.capacities_total}
    return data
