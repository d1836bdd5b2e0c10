"""The last hour of usage, in one-minute buckets, per node and per live instance.

Heartbeats bring a node's CPU% and RAM and (protocol 3) each live instance's CPU% and
RSS every few seconds. The web UI charts the last hour of them, so the Conductor keeps
a summary per minute: for each metric the mean and the maximum of the samples that
arrived in that minute. Buckets are aligned to wall-clock minutes (``start`` is a
multiple of 60), so two charts of one page line up.

Bounded, and nothing goes to disk: at most :data:`BUCKETS` buckets per series (older
ones fall off as new minutes begin), one series per node the registry knows and one
per instance a node reports live (at most ``MAX_USAGE_INSTANCES`` per heartbeat). An
instance's series is dropped when its node's heartbeat no longer lists it (it ended),
a node's and its instances' when the node is lost. A Conductor restart starts empty.

The store is sans-IO: every call takes ``now`` (Unix time), so tests drive it with
made-up times and the registry passes ``time.time()``.

>>> history = UsageHistory()
>>> history.record_node("n1", {"cpu_percent": 20.0, "ram_used": 1, "ram_total": 4}, now=120.0)
>>> history.record_node("n1", {"cpu_percent": 40.0, "ram_used": 3, "ram_total": 4}, now=150.0)
>>> [(b["start"], b["samples"], b["cpu_percent"], b["cpu_percent_max"])
...  for b in history.node_buckets("n1", now=170.0)]
[(120.0, 2, 30.0, 40.0)]
"""

from __future__ import annotations

import math
from array import array
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from symphony.wire import InstanceUsage

#: Seconds per bucket, and how many buckets a series keeps (one hour).
BUCKET_SECONDS = 60
BUCKETS = 60
#: What a node's chart shows (keys of its heartbeat's ``usage``).
NODE_METRICS = ("cpu_percent", "ram_used", "ram_total")
#: What an instance's chart shows (fields of :class:`~symphony.wire.InstanceUsage`).
INSTANCE_METRICS = ("cpu_percent", "rss_bytes")


def bucket_start(now: float) -> float:
    """The start of the minute ``now`` falls in."""
    return float(math.floor(now / BUCKET_SECONDS) * BUCKET_SECONDS)


def window_start(now: float) -> float:
    """The oldest bucket start still inside the last hour (the current minute included)."""
    return bucket_start(now) - (BUCKETS - 1) * BUCKET_SECONDS


class _Bucket:
    """One minute of one series: per metric the sum, the maximum and how many samples
    had it (a node may leave a figure out of one heartbeat), in one compact array."""

    __slots__ = ("samples", "start", "stats")

    def __init__(self, start: float, metrics: int) -> None:
        self.start = start
        self.samples = 0
        self.stats = array("d", bytes(8 * 3 * metrics))  # sums, maxima, counts

    def add(self, values: Sequence[float | None]) -> None:
        self.samples += 1
        n, stats = len(values), self.stats
        for i, value in enumerate(values):
            if value is None:
                continue
            stats[i] += value
            if value > stats[n + i] or not stats[2 * n + i]:
                stats[n + i] = value
            stats[2 * n + i] += 1

    def to_json(self, names: tuple[str, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {"start": self.start, "samples": self.samples}
        n, stats = len(names), self.stats
        for i, name in enumerate(names):
            if stats[2 * n + i]:
                out[name] = stats[i] / stats[2 * n + i]
                out[f"{name}_max"] = stats[n + i]
        return out


class Series:
    """The buckets of one node's or instance's ``metrics``, oldest first, at most
    :data:`BUCKETS`; and the latest sample as it came."""

    __slots__ = ("_buckets", "latest", "latest_at", "metrics")

    def __init__(self, metrics: tuple[str, ...]) -> None:
        self.metrics = metrics
        self._buckets: deque[_Bucket] = deque(maxlen=BUCKETS)
        self.latest: dict[str, float] = {}
        self.latest_at: float | None = None

    def add(self, values: Mapping[str, float], *, now: float) -> None:
        """Count one sample at ``now``; a sample older than the newest bucket is dropped
        (the wall clock stepped back): buckets stay in order."""
        start = bucket_start(now)
        newest = self._buckets[-1] if self._buckets else None
        if newest is not None and start < newest.start:
            return
        if newest is None or start > newest.start:
            newest = _Bucket(start, len(self.metrics))
            self._buckets.append(newest)  # maxlen: the oldest falls off
        newest.add([values.get(name) for name in self.metrics])
        self.latest, self.latest_at = dict(values), now

    def buckets(self, *, now: float) -> list[dict[str, Any]]:
        """The buckets of the last hour before ``now``, oldest first (minutes without a
        sample are absent: a chart shows a gap, not a zero)."""
        oldest = window_start(now)
        return [b.to_json(self.metrics) for b in self._buckets if b.start >= oldest]

    def __len__(self) -> int:
        return len(self._buckets)


@dataclass(slots=True)
class _InstanceSeries:
    node_id: str
    series: Series = field(default_factory=lambda: Series(INSTANCE_METRICS))


def _numbers(usage: Mapping[str, Any], names: Iterable[str]) -> dict[str, float]:
    """The metrics of ``usage`` that are finite non-negative numbers (a node's usage map
    is free-form JSON: whatever else it holds is left out, never an error)."""
    out = {}
    for name in names:
        value = usage.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if math.isfinite(value) and value >= 0:
            out[name] = float(value)
    return out


class UsageHistory:
    """Every node's and live instance's :class:`Series` (see the module docstring)."""

    def __init__(self) -> None:
        self._nodes: dict[str, Series] = {}
        self._instances: dict[str, _InstanceSeries] = {}
        # Which instances each node holds: a heartbeat's bookkeeping costs what that
        # node runs, not what the whole cluster runs.
        self._by_node: dict[str, set[str]] = {}

    # ---- recording ----------------------------------------------------------------------
    def record_node(self, node_id: str, usage: Mapping[str, Any], *, now: float) -> None:
        """One heartbeat's node usage (``cpu_percent``, ``ram_used``, ``ram_total``)."""
        values = _numbers(usage, NODE_METRICS)
        if values:
            self._nodes.setdefault(node_id, Series(NODE_METRICS)).add(values, now=now)

    def record_instances(
        self, node_id: str, instances: Iterable[InstanceUsage], *, now: float
    ) -> None:
        """One heartbeat's list of ``node_id``'s live instances: each gets a sample, and
        the node's instances missing from the list have ended and are dropped.

        An instance id another node holds is left alone: a node speaks for its own
        instances only (the first to report one keeps it until it stops listing it).
        """
        held_here = self._by_node.setdefault(node_id, set())
        listed = set()
        for usage in instances:
            held = self._instances.get(usage.instance_id)
            if held is None:
                held = self._instances[usage.instance_id] = _InstanceSeries(node_id)
                held_here.add(usage.instance_id)
            elif held.node_id != node_id:
                continue
            listed.add(usage.instance_id)
            sample = {"cpu_percent": usage.cpu_percent, "rss_bytes": float(usage.rss_bytes)}
            held.series.add(sample, now=now)
        for gone in held_here - listed:
            del self._instances[gone]
        held_here &= listed

    def drop_node(self, node_id: str) -> None:
        """Forget a node and its instances (it is gone)."""
        self._nodes.pop(node_id, None)
        for instance_id in self._by_node.pop(node_id, ()):
            del self._instances[instance_id]

    # ---- reading ---------------------------------------------------------------------------
    def node_buckets(self, node_id: str, *, now: float) -> list[dict[str, Any]]:
        """A node's buckets of the last hour (empty when it has none)."""
        series = self._nodes.get(node_id)
        return series.buckets(now=now) if series is not None else []

    def instance(self, instance_id: str, *, now: float) -> InstanceHistory | None:
        """An instance's current values and buckets, or None when it is not live."""
        held = self._instances.get(instance_id)
        if held is None:
            return None
        series = held.series
        return InstanceHistory(
            instance_id=instance_id,
            node_id=held.node_id,
            current=dict(series.latest),
            current_at=series.latest_at,
            buckets=series.buckets(now=now),
        )

    def current(self) -> dict[str, dict[str, float]]:
        """Every live instance's latest ``cpu_percent`` and ``rss_bytes``."""
        return {i: dict(held.series.latest) for i, held in self._instances.items()}

    def sizes(self) -> tuple[int, int]:
        """(node series, instance series) kept: for tests and metrics."""
        return len(self._nodes), len(self._instances)


@dataclass(frozen=True, slots=True)
class InstanceHistory:
    """One live instance's usage: the latest sample and the last hour's buckets."""

    instance_id: str
    node_id: str
    current: dict[str, float]
    current_at: float | None
    buckets: list[dict[str, Any]]


# ---- messages to the registry (which owns the history) --------------------------------------


@dataclass(frozen=True, slots=True)
class GetNodeUsage:
    """Ask: a node's buckets (reply: list of bucket dicts, or None for an unknown node)."""

    node_id: str


@dataclass(frozen=True, slots=True)
class GetInstanceUsage:
    """Ask: these instances' histories (reply: dict id -> :class:`InstanceHistory`, live
    ones only)."""

    instance_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class GetCurrentUsage:
    """Ask: every live instance's latest ``cpu_percent`` and ``rss_bytes`` (reply: dict)."""
