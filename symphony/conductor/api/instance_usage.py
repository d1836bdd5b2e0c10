"""Each instance's latest CPU% and RSS in the deployment views of the API."""

from __future__ import annotations

import logging
from typing import Any

from symphony.actors import ActorStopped, AskTimeout

from ..nodes.usage import GetCurrentUsage
from .app import context

log = logging.getLogger("symphony.conductor.api")

#: A listing does not wait long for figures it can do without.
USAGE_TIMEOUT = 2.0


async def with_current_usage(deployments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Fill in each instance's latest ``cpu_percent`` and ``rss_bytes`` (``None`` for an
    instance no heartbeat has measured: not live, or its node speaks protocol 2).

    The figures come from the node registry; when it cannot answer in time they are
    ``None`` for this one answer, rather than failing a listing for a chart's sake.
    """
    try:
        current = await context().registry.ask(GetCurrentUsage(), timeout=USAGE_TIMEOUT)
    except (AskTimeout, ActorStopped) as error:
        log.warning("instance usage left out of a listing: %s", error or type(error).__name__)
        current = {}
    for deployment in deployments:
        for inst in deployment["instances"]:
            sample = current.get(inst["id"], {})
            rss = sample.get("rss_bytes")
            inst["cpu_percent"] = sample.get("cpu_percent")
            inst["rss_bytes"] = int(rss) if rss is not None else None
    return deployments
