"""Each instance's latest CPU% and RSS in the deployment views of the API."""

from __future__ import annotations

import logging
from typing import Any

from symphony.actors import ActorStopped, AskTimeout

from ..nodes.usage import GetCurrentUsage
from .app import context
from .views import with_usage

log = logging.getLogger("symphony.conductor.api")

#: A listing does not wait long for figures it can do without.
USAGE_TIMEOUT = 2.0


async def current_usage() -> dict[str, dict[str, float]]:
    """Each measured instance's latest figures, by instance id, from the node registry.

    When the registry cannot answer in time the answer is empty (every figure ``None``)
    for this one request, rather than failing a listing for a chart's sake.
    """
    try:
        current: dict[str, dict[str, float]] = await context().registry.ask(
            GetCurrentUsage(), timeout=USAGE_TIMEOUT
        )
    except (AskTimeout, ActorStopped) as error:
        log.warning("instance usage left out of a listing: %s", error or type(error).__name__)
        return {}
    return current


async def with_current_usage(deployments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copies of ``deployments`` with each instance's latest figures filled in."""
    current = await current_usage()
    return [with_usage(view, current) for view in deployments]
