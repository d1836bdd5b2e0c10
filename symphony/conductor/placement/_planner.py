"""``plan_placements``: the pure scheduler core (Nomad style).

It reads a snapshot of nodes and the instances waiting for one, and returns a
:class:`Plan`; it changes nothing and does no I/O, so the Scheduler actor can call it
after every event and a property test can check it exactly.

Rules:
- an instance is eligible for a node that is ready, not draining, in its ``node_group``
  (any group when None), and has free capacity for *every* requested class (a class the
  node lacks = 0);
- ``spread`` picks the node left least utilized, ``binpack`` the most utilized, where
  utilization is the largest used/total fraction over the node's classes *after* placing;
- a node must have every tag the instance ``needs`` among its groups (``_needs.py``);
- ties go to the lowest node id; nodes in ``avoid_nodes`` are used only if nothing else fits;
- a node that speaks an older protocol than ``min_protocol`` is never chosen (its
  version comes from ``protocols``; a node not listed there speaks the newest);
- instances are taken in the order given (callers put older ones first), and each
  placement is charged before the next is chosen, so a plan never overbooks a node.
"""

from __future__ import annotations

import heapq
from collections.abc import Mapping, Sequence
from dataclasses import replace
from types import MappingProxyType

from ._index import Bucket, NodeIndex
from ._types import NodeView, PendingInstance, Placement, Plan, Unplaced


def plan_placements(
    nodes: Sequence[NodeView],
    pending: Sequence[PendingInstance],
    protocols: Mapping[str, int] | None = None,
) -> Plan:
    """Choose a node for each pending instance, or say why there is none.

    >>> node = NodeView("n1", frozenset({"gpu-1"}), True, {"Analytic1": 2})
    >>> job = PendingInstance("i1", "d1", "gpu-1", {"Analytic1": 1})
    >>> plan_placements([node], [job]).placements[0].node_id
    'n1'
    """
    return plan_on(NodeIndex(nodes), pending, protocols)


def plan_on(
    index: NodeIndex,
    pending: Sequence[PendingInstance],
    protocols: Mapping[str, int] | None = None,
) -> Plan:
    """Plan against ``index``, charging each placement to it as it goes.

    The caller owns ``index`` afterwards: it now includes the plan's reservations.
    """
    placements: list[Placement] = []
    unplaced: list[Unplaced] = []
    # Capacity only shrinks during a pass, so a shape that failed once fails again:
    # remembering it keeps a full cluster with a long queue cheap.
    failed: dict[tuple[str | None, tuple[tuple[str, int], ...], int, frozenset[str]], str] = {}
    protocols = protocols or {}
    seen: set[str] = set()
    for inst in pending:
        if inst.instance_id in seen:
            continue  # listed twice: place it once
        seen.add(inst.instance_id)
        requests = tuple(sorted((c, r) for c, r in inst.capacity_requests.items() if r > 0))
        shape = (inst.node_group, requests, inst.min_protocol, inst.needs)
        reason = failed.get(shape)
        if reason is None:
            choice = choose(index, inst, requests, protocols)
            if choice is not None:
                bucket, node_id = choice
                amounts = dict(requests)
                index.shift(node_id, amounts, 1, bucket)
                reservation = MappingProxyType(amounts)
                placements.append(
                    Placement(inst.instance_id, inst.deployment_id, node_id, reservation)
                )
                continue
            reason = failed[shape] = unplaced_reason(index, inst, requests, protocols)
        unplaced.append(Unplaced(inst.instance_id, inst.deployment_id, reason))
    return Plan(tuple(placements), tuple(unplaced))


def unplaced_reason(
    index: NodeIndex,
    inst: PendingInstance,
    requests: tuple[tuple[str, int], ...],
    protocols: Mapping[str, int] | None,
) -> str:
    """Why ``inst`` fits no node: the protocol it needs first, else capacity."""
    if inst.min_protocol > 1 and choose(index, replace(inst, min_protocol=1), requests):
        uses = "network: relay" if inst.min_protocol >= 5 else "secrets"
        return (
            f"needs a node of protocol version {inst.min_protocol} or newer (it uses "
            f"{uses}); the nodes that fit are older: upgrade them"
        )
    from ._reasons import unplaceable_reason  # loaded with the first instance unplaced

    return unplaceable_reason(index, inst.node_group, requests, inst.needs)


def choose(
    index: NodeIndex,
    inst: PendingInstance,
    requests: tuple[tuple[str, int], ...],
    protocols: Mapping[str, int] | None = None,
) -> tuple[Bucket, str] | None:
    """The best (bucket, node id) for one instance, or None when nothing fits."""
    binpack = inst.strategy == "binpack"
    avoid = inst.avoid_nodes
    oldest = inst.min_protocol
    needs = inst.needs
    best: tuple[bool, float, str] | None = None
    best_bucket: Bucket | None = None
    # The hot loop of the scheduler: plain locals, no helper calls per bucket.
    for bucket in index.candidates(inst.node_group):
        if needs and not needs <= bucket.groups:
            continue
        totals, used = bucket.totals, bucket.used
        after = bucket.peak
        for c, r in requests:
            total = totals.get(c, 0)
            now = used.get(c, 0) + r
            if now > total:
                break
            fraction = now / total
            if fraction > after:
                after = fraction
        else:
            ids = bucket.ids
            if oldest > 1:
                ids = [i for i in ids if (protocols or {}).get(i, oldest) >= oldest]
                if not ids:
                    continue
                heapq.heapify(ids)
            node_id = ids[0]
            avoided = False
            if avoid and node_id in avoid:
                node_id = _first_not_avoided(ids, avoid) or node_id
                avoided = node_id in avoid
            rank = (avoided, -after if binpack else after, node_id)
            if best is None or rank < best:
                best, best_bucket = rank, bucket
    if best is None or best_bucket is None:
        return None
    return best_bucket, best[2]


def _first_not_avoided(ids: list[str], avoid: frozenset[str]) -> str | None:
    allowed = [node_id for node_id in ids if node_id not in avoid]
    return min(allowed) if allowed else None
