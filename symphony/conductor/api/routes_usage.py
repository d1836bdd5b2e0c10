"""The last hour of usage, for charts: a node's CPU and RAM, a deployment's instances'
CPU and RSS and its restarts, each in one-minute buckets (``docs/api.md`` shows both).

``GET /nodes/{node_id}/usage-history`` and ``GET /deployments/{id_or_name}/usage-history``
read what the node registry keeps in memory (see
:mod:`symphony.conductor.nodes.usage`); restarts are counted from the deployment's
events. (The instance views of ``GET /deployments`` carry each live instance's latest
CPU% and RSS: see :mod:`.instance_usage`.)
"""

from __future__ import annotations

import time
from typing import Any

from quart import Blueprint

from ..nodes.usage import (
    BUCKET_SECONDS,
    BUCKETS,
    GetInstanceUsage,
    GetNodeUsage,
    InstanceHistory,
    bucket_start,
    window_start,
)
from ..store import InstanceRecord
from .app import context
from .errors import ApiError
from .routes_deployments import find

usage = Blueprint("usage", __name__)


@usage.get("/nodes/<node_id>/usage-history")
async def node_usage(node_id: str) -> dict[str, Any]:
    buckets = await context().registry.ask(GetNodeUsage(node_id), timeout=5)
    if buckets is None:
        raise ApiError(404, "not found", f"no node with id {node_id!r}")
    return {"node_id": node_id, **_frame(), "buckets": buckets}


@usage.get("/deployments/<id_or_name>/usage-history")
async def deployment_usage(id_or_name: str) -> dict[str, Any]:
    ctx = context()
    record = find(id_or_name)
    now = time.time()
    live = [i for i in ctx.store.list_instances(deployment_id=record.id) if i.finished_at is None]
    ids = tuple(i.id for i in live)
    found = await ctx.registry.ask(GetInstanceUsage(ids), timeout=5) if ids else {}
    counted = ctx.store.restarts_by_minute(record.id, since=window_start(now))
    first = window_start(now)
    return {
        "deployment_id": record.id,
        "name": record.name,
        **_frame(now),
        "instances": [_instance(i, found.get(i.id)) for i in sorted(live, key=_order)],
        "restarts": [
            {"start": start, "count": counted.get(start, 0)}
            for start in (first + n * BUCKET_SECONDS for n in range(BUCKETS))
        ],
    }


def _frame(now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    return {"now": now, "bucket_seconds": BUCKET_SECONDS, "current_bucket": bucket_start(now)}


def _order(inst: InstanceRecord) -> tuple[int, str]:
    return inst.replica, inst.id


def _instance(inst: InstanceRecord, history: InstanceHistory | None) -> dict[str, Any]:
    current = history.current if history is not None else {}
    rss = current.get("rss_bytes")
    return {
        "instance_id": inst.id,
        "replica": inst.replica,
        "node_id": inst.node_id,
        "state": inst.state,
        "cpu_percent": current.get("cpu_percent"),
        "rss_bytes": int(rss) if rss is not None else None,
        "sampled_at": history.current_at if history is not None else None,
        "buckets": history.buckets if history is not None else [],
    }
