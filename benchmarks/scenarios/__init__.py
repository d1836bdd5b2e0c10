"""The benchmark suite's scenarios, one module each, in the order a run measures them.

Every module has ``NAME`` and ``async def run(ctx: Context) -> list[Figure]``. Those the
peer can also do have ``async def measure(harness, params) -> dict`` as well: the same
function drives Symphony here and the peer in its own network namespace
(``benchmarks.peer``), so both are timed by the same code.
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: Scenario names in run order. ``limits`` comes first: later scenarios show its figures.
SCENARIOS: tuple[str, ...] = (
    "limits",
    "actors",
    "launch",
    "burst",
    "creates",
    "experiment",
    "restart",
    "node_loss",
    "conductor_restart",
    "placement",
    "nodes",
    "api_list",
    "idle_rss",
    "ps",
    "log_followers",
)


def load(name: str) -> ModuleType:
    """The scenario module called ``name`` (ValueError naming the known ones otherwise)."""
    if name not in SCENARIOS:
        raise ValueError(f"unknown scenario {name!r}; known: {', '.join(SCENARIOS)}")
    return importlib.import_module(f"{__name__}.{name}")
