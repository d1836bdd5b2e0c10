"""Why an instance cannot be placed, in words that say what to change.

Examples::

    no node in group gpu-1
    2 nodes in group gpu-1, none ready
    2 nodes in group gpu-1, none taking new work: 1 draining, 1 not ready
    no ready node in group gpu-1 has capacity class Analytic9; did you mean Analytic1?
    no ready node in group local has capacity class gpu; they offer cpu
    no ready node in group gpu-1 has the podman container runtime
    no ready node in group gpu-1 has Analytic1 >= 1 free; 2 nodes in group, best has 0
    no ready node in group gpu-1 has A >= 1 free; 1 of 2 nodes ready in group, 1 draining,
    best has 0

A draining node is connected but takes no new work, so it is never counted as ready.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from ._index import Bucket, NodeIndex
from ._needs import describe_need
from ._runtimes import runtime_of
from ._types import NodeView


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


#: How many of a spec's classes a reason names (a spec may ask for 64).
LISTED = 5


def _few(items: list[str], joiner: str = ", ") -> str:
    """The first :data:`LISTED` of ``items`` joined, and how many more there are."""
    more = len(items) - LISTED
    return joiner.join(items[:LISTED]) + (f" (and {more} more)" if more > 0 else "")


def unplaceable_reason(
    index: NodeIndex,
    group: str | None,
    requests: tuple[tuple[str, int], ...],
    needs: frozenset[str] = frozenset(),
) -> str:
    """Explain why no ready node in ``group`` has ``requests`` free right now (and the
    tags it ``needs``)."""
    lacking = _lacking(index, group, requests, needs)
    if lacking is not None:
        return lacking
    where = f" in group {group}" if group is not None else ""
    buckets = [b for b in index.candidates(group) if needs <= b.groups]
    total = index.node_count.get(group, 0)
    ready = index.ready_count.get(group, 0)
    draining = index.draining_count.get(group, 0)
    need = _few([f"{c} >= {r}" for c, r in requests], " and ")
    counted = _plural(total, "node") if ready == total else f"{ready} of {total} nodes ready"
    where_short = " in group" if group is not None else ""
    if draining:
        where_short += f", {draining} draining"
    best = _closest(buckets, requests)
    if len(requests) == 1:
        has = str(best.free(requests[0][0]))
    else:
        has = _few([f"{c} {best.free(c)}" for c, _ in requests])
    return f"no ready node{where} has {need} free; {counted}{where_short}, best has {has}"


def never_placeable_reason(
    index: NodeIndex,
    group: str | None,
    requests: tuple[tuple[str, int], ...],
    needs: frozenset[str] = frozenset(),
) -> str | None:
    """Why no ready node in ``group`` could take the instance even with nothing else
    running on it: no node there, none ready, a class, runtime or tag none of them has,
    or more than any one has in all. ``None`` when one could (it may still wait for room).

    Free amounts do not count: a client asks this of the nodes as listed, to warn at
    once about a deployment that waits until the cluster itself changes.
    """
    lacking = _lacking(index, group, requests, needs)
    if lacking is not None and group is not None and not index.node_count.get(group):
        return lacking + _groups(index, group)  # the group meant, or where the nodes are
    if lacking is not None:
        return lacking
    buckets = [b for b in index.candidates(group) if needs <= b.groups]
    if any(all(b.totals.get(c, 0) >= r for c, r in requests) for b in buckets):
        return None
    where = f" in group {group}" if group is not None else ""
    need = _few([f"{c} >= {r}" for c, r in requests], " and ")
    largest = max(buckets, key=lambda b: min(b.totals.get(c, 0) / r for c, r in requests if r))
    has = _few([f"{c} {largest.totals.get(c, 0)}" for c, _ in requests])
    return f"no ready node{where} has {need} in all; the largest has {has}"


def never_placeable(
    nodes: Iterable[NodeView],
    group: str | None,
    requests: Mapping[str, int],
    needs: frozenset[str] = frozenset(),
) -> str | None:
    """:func:`never_placeable_reason` for a view of ``nodes`` (their used amounts do not
    count): why an instance of ``group`` asking ``requests`` (and ``needs``) could not be
    placed on any of them even were they idle, or ``None``.

    >>> node = NodeView("n1", frozenset({"local"}), True, {"cpu": 200})
    >>> never_placeable([node], "local", {"cpus": 100})
    'no ready node in group local has capacity class cpus; did you mean cpu?'
    >>> never_placeable([node], "loca1", {"cpu": 100})
    'no node in group loca1; did you mean local?'
    >>> print(never_placeable([node], "local", {"cpu": 100}))
    None
    """
    asked = tuple(sorted((c, r) for c, r in requests.items() if r > 0))
    return never_placeable_reason(NodeIndex(nodes), group, asked, needs)


def _lacking(
    index: NodeIndex,
    group: str | None,
    requests: tuple[tuple[str, int], ...],
    needs: frozenset[str],
) -> str | None:
    """The reason no ready node in ``group`` could ever take the instance as the nodes
    are (whatever runs on them), or ``None``."""
    total = index.node_count.get(group, 0)
    ready = index.ready_count.get(group, 0)
    draining = index.draining_count.get(group, 0)
    where = f" in group {group}" if group is not None else ""
    if total == 0:
        return f"no node{where}" if group is not None else "no node has joined"
    if ready == 0 and draining:
        others = total - draining
        unready = f", {others} not ready" if others else ""
        busy = f"{draining} draining{unready}"
        return f"{_plural(total, 'node')}{where}, none taking new work: {busy}"
    if ready == 0:
        return f"{_plural(total, 'node')}{where}, none ready"
    buckets = list(index.candidates(group))
    lacking = sorted(t for t in needs if not any(t in b.groups for b in buckets))
    if lacking:
        return f"no ready node{where} has " + " and ".join(describe_need(t) for t in lacking)
    buckets = [b for b in buckets if needs <= b.groups]
    if not buckets:
        return f"no ready node{where} has all of " + ", ".join(map(describe_need, sorted(needs)))
    missing = [c for c, _ in requests if not any(b.totals.get(c, 0) > 0 for b in buckets)]
    runtimes = [r for r in map(runtime_of, missing) if r is not None]
    if runtimes:  # a container kind: say which runtime, not which (internal) class
        return f"no ready node{where} has the {runtimes[0]} container runtime"
    if missing:
        classes = _few(missing)
        return f"no ready node{where} has capacity class {classes}{_offered(missing, buckets)}"
    return None


def _offered(missing: list[str], buckets: Iterable[Bucket]) -> str:
    """What the ready nodes offer instead: the class meant, when a missing one looks like
    a typo of it (``cpus``, ``CPU`` for ``cpu``), else the classes they have."""
    offered = sorted(
        {c for b in buckets for c, v in b.totals.items() if v > 0 and runtime_of(c) is None},
        key=str.lower,
    )
    return _near_or_listed(missing, offered, "they offer", "they offer none")


def _groups(index: NodeIndex, group: str) -> str:
    """The groups the nodes are in, for a group no node is in: the one meant, when
    ``group`` looks like a typo of it, else the first five.

    Only for a warning given once (:func:`never_placeable_reason`), not in a stored
    pending reason: it changes with the nodes connected (after a Conductor restart, none
    at first), and each change of a stored reason is saved and noted as an event.
    """
    if not index.node_count.get(None):
        return ""  # no node at all: nothing to point at
    # Tags of what a node has (":sources") are kept as groups too: not a user's group.
    named = (g for g, n in index.node_count.items() if g and g[0].isalnum() and n > 0)
    groups = sorted(named, key=str.lower)
    listed = "the nodes are in group" if len(groups) == 1 else "the nodes are in groups"
    return _near_or_listed([group], groups, listed, "the nodes are in no group")


def _near_or_listed(wanted: list[str], have: list[str], listed: str, empty: str) -> str:
    """``; did you mean X?`` for the first of ``wanted`` close to one of ``have`` (case
    aside), else ``; {listed} A, B, ...`` (the first five), or ``; {empty}``."""
    if not have:
        return f"; {empty}"
    import difflib

    by_lower = {h.lower(): h for h in have}
    for one in wanted:
        near = difflib.get_close_matches(one.lower(), list(by_lower), n=1, cutoff=0.75)
        if near:
            return f"; did you mean {by_lower[near[0]]}?"
    return f"; {listed} " + ", ".join(have[:5]) + (", ..." if len(have) > 5 else "")


def _closest(buckets: Iterable[Bucket], requests: tuple[tuple[str, int], ...]) -> Bucket:
    """The bucket that could satisfy the largest share of its tightest request."""

    def share(bucket: Bucket) -> tuple[float, float, str]:
        # No requests (a unit refused for its protocol or groups): every bucket ties.
        shares = [bucket.free(c) / r for c, r in requests] or [0.0]
        return (-min(shares), -sum(shares), bucket.ids[0])

    return min(buckets, key=share)
