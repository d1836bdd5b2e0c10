"""What the runner hands every scenario: the run's size, a work directory, the peer."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._report import summary  # noqa: F401  (re-exported for scenario modules)
from ._api import Orchestrator
from ._probe import Probe

#: ``await peer(scenario_name, params)`` -> the peer's raw samples, or None (with a reason
#: in ``Context.peer_skipped``) when the peer is not part of this run.
PeerRunner = Callable[[str, dict[str, Any]], Awaitable[dict[str, Any] | None]]


@dataclass
class Context:
    """The run's settings and shared results (limits are measured first)."""

    quick: bool
    workdir: Path
    peer: PeerRunner | None = None
    peer_skipped: str = "peer not requested (--no-peer)"
    limits: dict[str, dict[str, float]] = field(default_factory=dict)
    #: Parts of a scenario that failed while the rest still produced figures.
    partial_failures: dict[str, str] = field(default_factory=dict)

    def size(self, quick: int, full: int) -> int:
        return quick if self.quick else full

    async def run_peer(self, name: str, params: dict[str, Any]) -> tuple[dict | None, str]:
        """The peer's samples for ``name`` and a note (empty when it ran)."""
        if self.peer is None:
            return None, self.peer_skipped
        try:
            return await self.peer(name, params), ""
        except Exception as error:  # the peer failing must not cost Symphony's figures
            return None, f"peer run failed: {error}"[:500]


@dataclass
class Harness:
    """What a peer-capable ``measure`` function drives: an API, a probe, memory readings."""

    api: Orchestrator
    probe: Probe
    rss: Callable[[], dict[str, int]]  # {"conductor": bytes, "node": bytes}
