"""What every scenario returns: figures, each beside its limit and, where it can, the peer.

A :class:`Figure` carries repeated measurements already summarised (min / median / p99,
see ``benchmarks._report.summary``) for Symphony, for the peer when the peer did the same
work in the same run, and for the limit underneath (the raw operating-system or library
cost measured in the same run). ``target`` and ``met`` record a promise from an issue.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from benchmarks._report import summary

Better = Literal["lower", "higher"]


@dataclass(frozen=True)
class Figure:
    """One measured quantity of one scenario."""

    scenario: str
    label: str
    unit: str
    symphony: dict[str, float]
    better: Better = "lower"
    peer: dict[str, float] | None = None
    peer_note: str = ""  # why there is no peer figure, or what differs
    limit: dict[str, float] | None = None
    limit_label: str = ""
    target: str = ""
    met: bool | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def ratio(self) -> float | None:
        """How many times better Symphony is than the peer (medians; >1 = better)."""
        if self.peer is None or not self.peer.get("median") or not self.symphony.get("median"):
            return None
        ours, theirs = self.symphony["median"], self.peer["median"]
        return theirs / ours if self.better == "lower" else ours / theirs

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "ratio_vs_peer": self.ratio()}


def stats(samples: Sequence[float], scale: float = 1.0) -> dict[str, float]:
    """``summary`` of samples multiplied by ``scale`` (seconds -> ms: 1000)."""
    return {k: (v * scale if k != "n" else v) for k, v in summary(samples).items()}


def one(value: float) -> dict[str, float]:
    """A single measurement in the same shape as :func:`stats`."""
    return stats([value])


def status(met: bool | None) -> str:
    """``met`` / ``NOT met`` / empty, as printed in the table."""
    return "" if met is None else ("met" if met else "NOT met")
