"""``GET /metrics``: Prometheus text format (version 0.0.4).

Every family is written with HELP and TYPE, and every known state appears even at zero,
so a dashboard's series do not come and go with the cluster's mood.
"""

from __future__ import annotations

import time
from collections import Counter
from typing import Any

from quart import Blueprint, Response

from ..deployments import SchedulerStats
from ..nodes.model import ListNodes
from ..store import INSTANCE_STATES, RESTARTS
from .app import context

metrics = Blueprint("metrics", __name__)

NODE_STATES = ("ready", "disconnected", "lost")
QUANTILES = (0.5, 0.9, 0.99)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


class Exposition:
    """Builds a Prometheus text exposition, one family at a time."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def family(self, name: str, kind: str, help_text: str) -> None:
        self.lines.append(f"# HELP {name} {help_text}")
        self.lines.append(f"# TYPE {name} {kind}")

    def sample(self, name: str, value: float, **labels: str) -> None:
        if labels:
            inner = ",".join(f'{k}="{escape(v)}"' for k, v in labels.items())
            self.lines.append(f"{name}{{{inner}}} {number(value)}")
        else:
            self.lines.append(f"{name} {number(value)}")

    def text(self) -> str:
        return "\n".join(self.lines) + "\n"


def escape(value: str) -> str:
    """A label value as the text format wants it."""
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(float(value))


def quantile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank quantile of an already sorted list (0.0 when empty)."""
    if not sorted_values:
        return 0.0
    rank = min(len(sorted_values) - 1, max(0, round(q * len(sorted_values)) - 1))
    return sorted_values[rank]


@metrics.get("/metrics")
async def prometheus() -> Response:
    ctx = context()
    views = await ctx.registry.ask(ListNodes(), timeout=5)
    stats: dict[str, Any] = await ctx.scheduler.ask(SchedulerStats(), timeout=5)
    instances = ctx.store.list_instances()
    deployments = ctx.store.list_deployments()
    now = time.time()
    out = Exposition()

    out.family("symphony_nodes", "gauge", "Nodes by state.")
    by_state = Counter(v.state for v in views)
    for state in NODE_STATES:
        out.sample("symphony_nodes", by_state.get(state, 0), state=state)

    out.family(
        "symphony_node_draining",
        "gauge",
        "1 for each node being drained (no new work; its replicas move elsewhere), else 0.",
    )
    for view in views:
        out.sample("symphony_node_draining", int(view.draining), node=view.node_id)

    out.family(
        "symphony_node_heartbeat_age_seconds", "gauge", "Seconds since each node's last heartbeat."
    )
    for view in views:
        if view.last_heartbeat is not None:
            age = max(0.0, now - view.last_heartbeat)
            out.sample("symphony_node_heartbeat_age_seconds", round(age, 3), node=view.node_id)

    out.family("symphony_deployments", "gauge", "Deployments known to the Conductor.")
    out.sample("symphony_deployments", len(deployments))

    out.family("symphony_instances", "gauge", "Instances by state.")
    inst_states: Counter[str] = Counter(i.state for i in instances)
    for state in INSTANCE_STATES:
        out.sample("symphony_instances", inst_states.get(state, 0), state=state)

    out.family(
        "symphony_restarts_total",
        "counter",
        "Restarts of instances' processes on their nodes (all instances ever, deleted too).",
    )
    out.sample("symphony_restarts_total", ctx.store.counter(RESTARTS))

    out.family("symphony_placements_total", "counter", "Instances placed on a node.")
    out.sample("symphony_placements_total", stats["placements_total"])

    out.family("symphony_pending_placements", "gauge", "Instances waiting for capacity.")
    out.sample("symphony_pending_placements", stats["pending"])

    latencies = sorted(stats["latencies"])
    out.family(
        "symphony_scheduling_latency_seconds",
        "gauge",
        "Quantiles of the time from placement request to placement, recent placements.",
    )
    for q in QUANTILES:
        value = round(quantile(latencies, q), 6)
        out.sample("symphony_scheduling_latency_seconds", value, quantile=str(q))
    out.family(
        "symphony_scheduling_latency_samples", "gauge", "Placements the quantiles are taken over."
    )
    out.sample("symphony_scheduling_latency_samples", len(latencies))
    out.family(
        "symphony_scheduler_news_queued",
        "gauge",
        "Placement news waiting for busy deployment supervisors (coalesced, never dropped).",
    )
    out.sample("symphony_scheduler_news_queued", stats.get("news_queued", 0))
    return Response(out.text(), status=200, content_type=CONTENT_TYPE)
