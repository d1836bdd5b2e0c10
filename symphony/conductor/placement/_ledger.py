"""``CapacityLedger``: the reservations the Scheduler actor keeps between plans.

Reservations are keyed by instance id, so releasing is idempotent (an instance that is
reported stopped twice frees its capacity once) and "used" can never go negative.
Reserving more than a node's total is refused. Errors::

    LedgerError
    ├── UnknownNode        reserve on a node the ledger does not know
    ├── AlreadyReserved    the instance already holds a reservation
    └── OverCapacity       the node has not enough of a class free
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from types import MappingProxyType

from symphony.errors import SymphonyError

from ._types import NodeView, Plan


class LedgerError(SymphonyError):
    """A reservation broke a ledger rule."""


class UnknownNode(LedgerError):
    """The node is not in the ledger (never joined, or removed)."""


class AlreadyReserved(LedgerError):
    """The instance holds a reservation already; release it first."""


class OverCapacity(LedgerError):
    """The node lacks free capacity for the request."""


@dataclass(frozen=True, slots=True)
class Reservation:
    """Capacity held by one instance on one node."""

    instance_id: str
    node_id: str
    amounts: Mapping[str, int]


class CapacityLedger:
    """Per-node totals and the reservations charged against them."""

    def __init__(self) -> None:
        self._totals: dict[str, dict[str, int]] = {}
        self._used: dict[str, dict[str, int]] = {}
        self._held: dict[str, Reservation] = {}
        # Instances holding capacity, per node: made with a node's first reservation
        # (a set is 216 bytes even empty, and most of a large fleet holds none).
        self._on_node: dict[str, set[str]] = {}

    def set_node(self, node_id: str, totals: Mapping[str, int]) -> None:
        """Add a node or change its declared totals; reservations on it are kept.

        If the totals shrink below what is reserved the node is simply full until
        instances end: running work is not evicted by a bookkeeping change.
        """
        for name, value in totals.items():
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"total {name!r} must be an int >= 0, got {value!r}")
        self._totals[node_id] = dict(totals)
        self._used.setdefault(node_id, {})

    def remove_node(self, node_id: str) -> list[Reservation]:
        """Forget a node; returns the reservations that were on it (now released)."""
        released = [self._held.pop(i) for i in sorted(self._on_node.pop(node_id, ()))]
        self._totals.pop(node_id, None)
        self._used.pop(node_id, None)
        return released

    def has_node(self, node_id: str) -> bool:
        return node_id in self._totals

    def node_ids(self) -> list[str]:
        return sorted(self._totals)

    def totals(self, node_id: str) -> Mapping[str, int]:
        return MappingProxyType(dict(self._totals.get(node_id, {})))

    def used(self, node_id: str) -> Mapping[str, int]:
        return MappingProxyType({c: u for c, u in self._used.get(node_id, {}).items() if u})

    def free(self, node_id: str) -> Mapping[str, int]:
        used = self._used.get(node_id, {})
        return MappingProxyType(
            {c: max(0, t - used.get(c, 0)) for c, t in self._totals.get(node_id, {}).items()}
        )

    def fits(self, node_id: str, amounts: Mapping[str, int]) -> bool:
        """Whether ``amounts`` can be reserved on ``node_id`` now."""
        if node_id not in self._totals:
            return False
        totals, used = self._totals[node_id], self._used[node_id]
        return all(used.get(c, 0) + r <= totals.get(c, 0) for c, r in amounts.items() if r)

    def reserve(self, node_id: str, instance_id: str, amounts: Mapping[str, int]) -> Reservation:
        """Charge ``amounts`` to ``node_id`` for ``instance_id``."""
        if node_id not in self._totals:
            raise UnknownNode(f"node {node_id!r} is not in the ledger")
        if instance_id in self._held:
            held = self._held[instance_id]
            raise AlreadyReserved(
                f"instance {instance_id!r} already holds capacity on {held.node_id!r}"
            )
        for c, r in amounts.items():
            if not isinstance(r, int) or isinstance(r, bool) or r < 0:
                raise ValueError(f"amount {c!r} must be an int >= 0, got {r!r}")
        if not self.fits(node_id, amounts):
            free = dict(self.free(node_id))
            raise OverCapacity(f"node {node_id!r} has {free} free, asked for {dict(amounts)}")
        used = self._used[node_id]
        for c, r in amounts.items():
            if r:
                used[c] = used.get(c, 0) + r
        held = Reservation(
            instance_id, node_id, MappingProxyType({c: r for c, r in amounts.items() if r})
        )
        self._held[instance_id] = held
        self._on_node.setdefault(node_id, set()).add(instance_id)
        return held

    def release(self, instance_id: str) -> Reservation | None:
        """Free what ``instance_id`` holds; None (and no change) if it holds nothing."""
        held = self._held.pop(instance_id, None)
        if held is None:
            return None
        on_node = self._on_node.get(held.node_id)
        if on_node is not None:
            on_node.discard(instance_id)
            if not on_node:
                del self._on_node[held.node_id]
        used = self._used[held.node_id]
        for c, r in held.amounts.items():
            used[c] -= r
            if not used[c]:
                del used[c]
        return held

    def reservation(self, instance_id: str) -> Reservation | None:
        return self._held.get(instance_id)

    def apply(self, plan: Plan) -> list[Reservation]:
        """Reserve every placement of ``plan``, all or nothing."""
        done: list[Reservation] = []
        try:
            for p in plan.placements:
                done.append(self.reserve(p.node_id, p.instance_id, p.reservation))
        except LedgerError:
            for held in done:
                self.release(held.instance_id)
            raise
        return done

    def view(
        self, node_id: str, *, groups: Iterable[str], ready: bool, draining: bool = False
    ) -> NodeView:
        """A :class:`NodeView` of ``node_id`` for the planner."""
        if node_id not in self._totals:
            raise UnknownNode(f"node {node_id!r} is not in the ledger")
        return NodeView(
            node_id,
            frozenset(groups),
            ready,
            self._totals[node_id],
            self.used(node_id),
            draining=draining,
        )
