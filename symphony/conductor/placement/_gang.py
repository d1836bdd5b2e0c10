"""``plan_gang``: place an experiment's processes whole or not at all.

A gang is the pending members of one experiment. Members that share a ``gang_group``
(a process group) are one *unit*: their requests are summed and the unit goes to one
node. Units are placed largest first (the hard ones while the most room is left), each
charged before the next is chosen, exactly as :func:`plan_placements` charges
instances. If any unit fits nowhere, every charge is undone and every member is
unplaced with one reason naming the unit that does not fit: capacity is never
reserved for part of a gang.

    >>> from symphony.conductor.placement import NodeView, PendingInstance
    >>> from symphony.conductor.placement._index import NodeIndex
    >>> index = NodeIndex([NodeView("n1", frozenset(), True, {"A": 2})])
    >>> members = [PendingInstance(f"i{k}", f"d{k}", None, {"A": 1}, gang="rl",
    ...            gang_group="agents") for k in range(3)]
    >>> print(plan_gang(index, members).unplaced[0].reason)  # doctest: +NORMALIZE_WHITESPACE
    experiment rl: group agents (3 processes, A 3) does not fit:
    no ready node has A >= 3 free; 1 node, best has 2
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from types import MappingProxyType

from ._index import NodeIndex
from ._planner import choose, unplaced_reason
from ._types import NodeView, PendingInstance, Placement, Plan, Unplaced


@dataclass(frozen=True, slots=True)
class _Unit:
    """Members that go to one node, and what they need together."""

    name: str
    members: tuple[PendingInstance, ...]
    requests: tuple[tuple[str, int], ...]
    node_group: str | None

    def describe(self) -> str:
        need = ", ".join(f"{c} {r}" for c, r in self.requests)
        count = len(self.members)
        what = f"{count} process{'es' if count != 1 else ''}"
        return f"{self.name} ({what}{', ' + need if need else ''})"


def _units(members: Sequence[PendingInstance]) -> list[_Unit]:
    by_group: dict[str, list[PendingInstance]] = defaultdict(list)
    for member in members:
        by_group[member.gang_group or f"process {member.deployment_id}"].append(member)
    units = []
    for key, group in by_group.items():
        total: dict[str, int] = defaultdict(int)
        for member in group:
            for c, r in member.capacity_requests.items():
                if r > 0:
                    total[c] += r
        node_group = next((m.node_group for m in group if m.node_group is not None), None)
        kind, _, label = key.partition(":") if ":" in key else ("group", "", key)
        name = key if key.startswith("process ") else f"{kind} {label}"
        units.append(_Unit(name, tuple(group), tuple(sorted(total.items())), node_group))
    # Largest first; ties keep the order given (older members first).
    units.sort(key=lambda u: (-sum(r for _, r in u.requests), -len(u.members)))
    return units


def plan_gang(
    index: NodeIndex,
    members: Sequence[PendingInstance],
    protocols: Mapping[str, int] | None = None,
) -> Plan:
    """Place every member (each unit on one node), or none of them, saying why.

    A unit goes only to a node whose protocol version (``protocols``) is at least the
    highest ``min_protocol`` of its members (a member with secrets needs 4).

    On success the placements are charged to ``index`` (as :func:`plan_on` does); on
    failure ``index`` is left as it was.
    """
    if not members:
        return Plan()
    charged: list[tuple[str, dict[str, int]]] = []
    placements: list[Placement] = []
    for unit in _units(members):
        first = unit.members[0]
        probe = PendingInstance(
            first.instance_id,
            first.deployment_id,
            unit.node_group,
            dict(unit.requests),
            strategy=first.strategy,
            avoid_nodes=frozenset().union(*(m.avoid_nodes for m in unit.members)),
            min_protocol=max(m.min_protocol for m in unit.members),
            needs=frozenset().union(*(m.needs for m in unit.members)),
        )
        choice = choose(index, probe, unit.requests, protocols)
        if choice is None:
            # The protocol a member needs (secrets, network: relay) is said first.
            reason = unplaced_reason(index, probe, unit.requests, protocols)
            for node_id, amounts in reversed(charged):
                index.shift(node_id, amounts, -1)
            gang = first.gang or "?"
            text = f"experiment {gang}: {unit.describe()} does not fit: {reason}"
            return Plan((), tuple(Unplaced(m.instance_id, m.deployment_id, text) for m in members))
        bucket, node_id = choice
        amounts = dict(unit.requests)
        index.shift(node_id, amounts, 1, bucket)
        charged.append((node_id, amounts))
        for member in unit.members:
            own = {c: r for c, r in member.capacity_requests.items() if r > 0}
            placements.append(
                Placement(member.instance_id, member.deployment_id, node_id, MappingProxyType(own))
            )
    return Plan(tuple(placements), ())


def never_placeable_gang(
    nodes: Iterable[NodeView],
    members: Sequence[PendingInstance],
    protocols: Mapping[str, int] | None = None,
) -> str | None:
    """Why :func:`plan_gang` could not place ``members`` on ``nodes`` even were they idle
    (their used amounts do not count), in its words; ``None`` when it could.

    The gang's own units compete for room, so this is the check a client can make at
    once for an experiment (as :func:`never_placeable` is for one instance): an
    experiment that fails it waits until the cluster itself changes.
    """
    idle = NodeIndex([replace(node, capacities_used={}) for node in nodes])
    plan = plan_gang(idle, members, protocols)
    return plan.unplaced[0].reason if plan.unplaced else None
