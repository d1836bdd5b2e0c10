"""``GET /nodes``: every node with its state, groups, capacities and usage."""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from ..nodes.model import ListNodes
from .app import context

nodes = Blueprint("nodes", __name__)


@nodes.get("/nodes")
async def list_nodes() -> dict[str, Any]:
    views = await context().registry.ask(ListNodes(), timeout=5)
    return {"nodes": [view.to_json() for view in views]}
