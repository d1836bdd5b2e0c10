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


class Series:
    """The one-minute buckets of one node's or instance's ``metrics``, oldest first, at
    most :data:`BUCKETS`.

    All of them in one flat array of doubles, a bucket after another: its start, its
    samples, then per metric the sum, the maximum and how many samples had it (a node
    may leave a figure out of one heartbeat). An hour of a node's buckets is then 5 KiB
    in one object, not sixty bucket objects with an array each (about 13 KiB), and a
    sample allocates nothing.
    """

    __slots__ = ("metrics", "stats")

    def __init__(self, metrics: tuple[str, ...]) -> None:
        self.metrics = metrics
        self.stats = array("d")

    def add(self, values: Sequence[float | None], *, now: float) -> bool:
        """Count one sample at ``now`` (``values`` in the order of ``metrics``, None for
        a figure it lacks). False, and nothing counted, for a sample older than the
        newest bucket (the wall clock stepped back): buckets stay in order."""
        stats, n = self.stats, len(self.metrics)
        width = 2 + 3 * n
        start = bucket_start(now)
        newest = len(stats) - width
        if newest < 0 or start > stats[newest]:
            if len(stats) >= BUCKETS * width:
                del stats[:width]  # the oldest falls off
            newest = len(stats)
            stats.frombytes(bytes(8 * width))  # a bucket of zeros
            stats[newest] = start
        elif start < stats[newest]:
            return False
        stats[newest + 1] += 1
        sums = newest + 2
        for i, value in enumerate(values):
            if value is None:
                continue
            stats[sums + i] += value
            count = stats[sums + 2 * n + i]
            if not count or value > stats[sums + n + i]:
                stats[sums + n + i] = value
            stats[sums + 2 * n + i] = count + 1
        return True

    def buckets(self, *, now: float) -> list[dict[str, Any]]:
        """The buckets of the last hour before ``now``, oldest first (minutes without a
        sample are absent: a chart shows a gap, not a zero)."""
        oldest = window_start(now)
        stats, names = self.stats, self.metrics
        n = len(names)
        width = 2 + 3 * n
        out = []
        for at in range(0, len(stats), width):
            if stats[at] < oldest:
                continue
            bucket: dict[str, Any] = {"start": stats[at], "samples": int(stats[at + 1])}
            sums = at + 2
            for i, name in enumerate(names):
                count = stats[sums + 2 * n + i]
                if count:
                    bucket[name] = stats[sums + i] / count
                    bucket[f"{name}_max"] = stats[sums + n + i]
            out.append(bucket)
        return out

    def __len__(self) -> int:
        return len(self.stats) // (2 + 3 * len(self.metrics))


@dataclass(slots=True)
class _InstanceSeries:
    node_id: str
    series: Series = field(default_factory=lambda: Series(INSTANCE_METRICS))
    latest: tuple[float, float] | None = None  # (cpu_percent, rss_bytes), as it came
    latest_at: float | None = None

    def current(self) -> dict[str, float]:
        if self.latest is None:
            return {}
        return dict(zip(INSTANCE_METRICS, self.latest, strict=True))


def _numbers(usage: Mapping[str, Any], names: Iterable[str]) -> list[float | None] | None:
    """The metrics of ``usage`` that are finite non-negative numbers, None for the others
    (a node's usage map is free-form JSON: whatever else it holds is left out, never an
    error); None when it has none of them."""
    out: list[float | None] = []
    found = False
    for name in names:
        value = usage.get(name)
        if (
            isinstance(value, bool)
            or not isinstance(value, int | float)
            or not (math.isfinite(value) and value >= 0)
        ):
            out.append(None)
            continue
        out.append(float(value))
        found = True
    return out if found else None


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
        if values is not None:
            series = self._nodes.get(node_id)
            if series is None:
                series = self._nodes[node_id] = Series(NODE_METRICS)
            series.add(values, now=now)

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
            sample = (usage.cpu_percent, float(usage.rss_bytes))
            if held.series.add(sample, now=now):
                held.latest, held.latest_at = sample, now
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
        return InstanceHistory(
            instance_id=instance_id,
            node_id=held.node_id,
            current=held.current(),
            current_at=held.latest_at,
            buckets=held.series.buckets(now=now),
        )

    def current(self) -> dict[str, dict[str, float]]:
        """Every live instance's latest ``cpu_percent`` and ``rss_bytes``."""
        return {i: held.current() for i, held in self._instances.items()}

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
