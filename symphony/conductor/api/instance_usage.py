"""Each instance's latest CPU% and RSS in the deployment views of the API."""

from __future__ import annotations

from typing import Any

from ..nodes.usage import GetCurrentUsage
from .app import context


async def with_current_usage(deployments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fill in each instance's latest ``cpu_percent`` and ``rss_bytes`` (``None`` for an
    instance no heartbeat has measured: not live, or its node speaks protocol 2)."""
    current = await context().registry.ask(GetCurrentUsage(), timeout=5)
    for deployment in deployments:
        for inst in deployment["instances"]:
            sample = current.get(inst["id"], {})
            rss = sample.get("rss_bytes")
            inst["cpu_percent"] = sample.get("cpu_percent")
            inst["rss_bytes"] = int(rss) if rss is not None else None
    return deployments
