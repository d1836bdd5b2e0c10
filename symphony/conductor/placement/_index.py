"""Eligible nodes bucketed by identical state, so one instance costs O(buckets), not O(nodes).

Eligible: ready and not draining (a draining node keeps its work but takes none).

Nodes with the same groups, totals and reservations are interchangeable to the planner:
they fit the same requests and score the same, and the tie-break picks the lowest node
id. A cluster of 1,000 nodes built from a few machine types therefore collapses into a
few dozen buckets, and picking a node means scanning those, not every node. Each bucket
keeps its node ids in a heap, so the tie-break winner is ``ids[0]``.

Worst case (every node different) this is the plain O(nodes) scan, never worse.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Mapping

from ._types import NodeView

BucketKey = tuple[frozenset[str], tuple[tuple[str, int], ...], tuple[tuple[str, int], ...]]


class Bucket:
    """Eligible nodes that share groups, totals and used amounts."""

    __slots__ = ("groups", "ids", "key", "peak", "totals", "used")

    def __init__(self, key: BucketKey) -> None:
        self.key = key
        self.groups, totals, used = key
        self.totals: dict[str, int] = dict(totals)
        self.used: dict[str, int] = dict(used)
        self.ids: list[str] = []
        # Utilization now: the largest used/total over classes the node has.
        self.peak = max(
            (self.used.get(c, 0) / t for c, t in self.totals.items() if t > 0), default=0.0
        )

    def free(self, capacity_class: str) -> int:
        return max(0, self.totals.get(capacity_class, 0) - self.used.get(capacity_class, 0))


def _key(groups: frozenset[str], totals: Mapping[str, int], used: Mapping[str, int]) -> BucketKey:
    return (
        groups,
        tuple(sorted((c, t) for c, t in totals.items() if t)),
        tuple(sorted((c, u) for c, u in used.items() if u)),
    )


class NodeIndex:
    """Eligible nodes by bucket, plus node counts per group (for the reasons): every
    node, the ready ones, and the ready ones being drained (ready but not eligible).

    Built once from views for a one-off plan, or kept up to date node by node
    (:class:`~symphony.conductor.placement.ClusterState`) so that a plan for one new
    instance costs O(buckets) and not a rebuild from every node.
    """

    def __init__(self, nodes: Iterable[NodeView] = ()) -> None:
        self._buckets: dict[BucketKey, Bucket] = {}
        self._by_group: dict[str | None, dict[BucketKey, Bucket]] = {None: {}}
        self._where: dict[str, BucketKey] = {}  # ready node -> its bucket
        # every node: groups, ready, draining
        self._meta: dict[str, tuple[frozenset[str], bool, bool]] = {}
        self.node_count: dict[str | None, int] = {None: 0}
        self.ready_count: dict[str | None, int] = {None: 0}  # eligible: ready, not draining
        self.draining_count: dict[str | None, int] = {None: 0}  # ready, but draining
        for node in nodes:
            if node.node_id in self._meta:
                raise ValueError(f"node {node.node_id!r} appears twice in the view")
            self.upsert(node)

    def upsert(self, node: NodeView) -> None:
        """Add a node, or replace what is known about it (groups, ready, draining,
        amounts)."""
        self.remove(node.node_id)
        self._meta[node.node_id] = (node.groups, node.ready, node.draining)
        self._count(node.groups, node.ready, node.draining, +1)
        if node.eligible:
            key = _key(node.groups, node.capacities_total, node.capacities_used)
            self._add(key, node.node_id)

    def remove(self, node_id: str) -> None:
        """Forget a node (no-op when unknown)."""
        meta = self._meta.pop(node_id, None)
        if meta is None:
            return
        self._count(*meta, -1)
        key = self._where.get(node_id)
        if key is not None:
            self._take(self._buckets[key], node_id)

    def candidates(self, group: str | None) -> Iterable[Bucket]:
        """Buckets of eligible nodes in ``group`` (any group for None)."""
        return self._by_group.get(group, {}).values()

    def shift(
        self, node_id: str, amounts: Mapping[str, int], sign: int = 1, bucket: Bucket | None = None
    ) -> None:
        """Add (``sign`` 1) or remove (-1) ``amounts`` to an eligible node's used amounts."""
        if bucket is None:
            key = self._where.get(node_id)
            if key is None:
                return  # not eligible: not indexed; its amounts come with its next upsert
            bucket = self._buckets[key]
        self._take(bucket, node_id)
        used = dict(bucket.used)
        for c, r in amounts.items():
            used[c] = used.get(c, 0) + sign * r
        self._add(_key(bucket.groups, bucket.totals, used), node_id)

    def _count(self, groups: frozenset[str], ready: bool, draining: bool, delta: int) -> None:
        counts = [self.node_count]
        if ready:
            counts.append(self.draining_count if draining else self.ready_count)
        for group in (None, *groups):
            for count in counts:
                count[group] = count.get(group, 0) + delta

    def _take(self, bucket: Bucket, node_id: str) -> None:
        if bucket.ids[0] == node_id:
            heapq.heappop(bucket.ids)
        else:  # rare: an avoided node was skipped, or a node left; the heap top stays
            bucket.ids.remove(node_id)
            heapq.heapify(bucket.ids)
        del self._where[node_id]
        if not bucket.ids:
            del self._buckets[bucket.key]
            for group in (None, *bucket.groups):
                del self._by_group[group][bucket.key]

    def _add(self, key: BucketKey, node_id: str) -> None:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = Bucket(key)
            for group in (None, *bucket.groups):
                self._by_group.setdefault(group, {})[key] = bucket
        heapq.heappush(bucket.ids, node_id)
        self._where[node_id] = key
