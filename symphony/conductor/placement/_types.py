"""The values the placement core reads and returns: read-only views in, a plan out."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Literal

Strategy = Literal["spread", "binpack"]
STRATEGIES: frozenset[str] = frozenset({"spread", "binpack"})


def _frozen_amounts(amounts: Mapping[str, int], what: str) -> Mapping[str, int]:
    for name, value in amounts.items():
        # bool is an int subclass; True as an amount is a bug upstream, not "1".
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise ValueError(f"{what}[{name!r}] must be an int >= 0, got {value!r}")
    return MappingProxyType(dict(amounts))


@dataclass(frozen=True, slots=True)
class NodeView:
    """What the planner knows about one node: its groups, whether it is connected
    (``ready``), whether an operator is ``draining`` it, and per capacity class its
    declared total and what is reserved now. Only a node that is ready and not draining
    takes new work; a draining one keeps what it runs."""

    node_id: str
    groups: frozenset[str]
    ready: bool
    capacities_total: Mapping[str, int]
    capacities_used: Mapping[str, int] = field(default_factory=dict)
    draining: bool = False

    @property
    def eligible(self) -> bool:
        """Whether new work may be placed here (ready and not draining)."""
        return self.ready and not self.draining

    def __post_init__(self) -> None:
        object.__setattr__(self, "groups", frozenset(self.groups))
        total = _frozen_amounts(self.capacities_total, "capacities_total")
        object.__setattr__(self, "capacities_total", total)
        object.__setattr__(
            self, "capacities_used", _frozen_amounts(self.capacities_used, "capacities_used")
        )

    def free(self, capacity_class: str) -> int:
        """Unreserved amount of a class (a class the node lacks has 0; never negative)."""
        total = self.capacities_total.get(capacity_class, 0)
        return max(0, total - self.capacities_used.get(capacity_class, 0))


@dataclass(frozen=True, slots=True)
class PendingInstance:
    """An instance waiting for a node.

    ``node_group`` None means any group. ``avoid_nodes`` are nodes to prefer against
    (say, where it just failed): used only when no other node fits. ``needs`` are tags
    every chosen node must have among its groups (see :mod:`._needs`). ``min_protocol``:
    only nodes speaking at least this protocol version qualify (a job with secrets).

    ``gang`` (an experiment's name) makes it a member of a gang: the gang's members are
    placed together or not at all (:func:`plan_gang`), and members sharing a
    ``gang_group`` land on one node.
    """

    instance_id: str
    deployment_id: str
    node_group: str | None
    capacity_requests: Mapping[str, int]
    strategy: Strategy = "spread"
    avoid_nodes: frozenset[str] = frozenset()
    needs: frozenset[str] = frozenset()
    gang: str | None = None
    gang_group: str | None = None
    min_protocol: int = 1

    def __post_init__(self) -> None:
        object.__setattr__(self, "needs", frozenset(self.needs))
        if self.strategy not in STRATEGIES:
            raise ValueError(f"strategy must be 'spread' or 'binpack', got {self.strategy!r}")
        requests = _frozen_amounts(self.capacity_requests, "capacity_requests")
        object.__setattr__(self, "capacity_requests", requests)
        object.__setattr__(self, "avoid_nodes", frozenset(self.avoid_nodes))


@dataclass(frozen=True, slots=True)
class Placement:
    """Put ``instance_id`` on ``node_id`` and reserve ``reservation`` there."""

    instance_id: str
    deployment_id: str
    node_id: str
    reservation: Mapping[str, int]


#: The longest pending reason kept: a line or two of a terminal.
MAX_REASON = 300


@dataclass(frozen=True, slots=True)
class Unplaced:
    """An instance no node can take now, and why, in words a person can act on."""

    instance_id: str
    deployment_id: str
    reason: str

    def __post_init__(self) -> None:
        # The reason is stored, listed by every `ps` and sent to every API client: it
        # stays a line, whatever a spec names (the reasons list a few classes already).
        if len(self.reason) > MAX_REASON:
            object.__setattr__(self, "reason", self.reason[: MAX_REASON - 3] + "...")


@dataclass(frozen=True, slots=True)
class Plan:
    """The planner's answer. Placements account for each other: applying all of them
    to the capacities the plan was made from never overbooks a node."""

    placements: tuple[Placement, ...] = ()
    unplaced: tuple[Unplaced, ...] = ()
