"""The pure placement core: which node takes which pending instance.

    >>> from symphony.conductor.placement import NodeView, PendingInstance, plan_placements
    >>> nodes = [NodeView("n1", frozenset({"gpu-1"}), True, {"Analytic1": 2}, {"Analytic1": 2})]
    >>> plan = plan_placements(nodes, [PendingInstance("i1", "d1", "gpu-1", {"Analytic1": 1})])
    >>> plan.unplaced[0].reason
    'no ready node in group gpu-1 has Analytic1 >= 1 free; 1 node in group, best has 0'

Two ways in, one planner: :func:`plan_placements` for a snapshot of views (pure), and
:class:`ClusterState` for the Scheduler actor, which keeps the :class:`CapacityLedger`
and a live index in step and plans each arriving instance without a rebuild.
"""

from typing import TYPE_CHECKING, Any

from ._cluster import ClusterState
from ._gang import never_placeable_gang, plan_gang
from ._ledger import (
    AlreadyReserved,
    CapacityLedger,
    LedgerError,
    OverCapacity,
    Reservation,
    UnknownNode,
)
from ._needs import job_needs, node_tags
from ._planner import plan_placements
from ._runtimes import runtime_requests, runtime_totals
from ._types import STRATEGIES, NodeView, PendingInstance, Placement, Plan, Strategy, Unplaced

if TYPE_CHECKING:
    from ._reasons import never_placeable

__all__ = [
    "STRATEGIES",
    "AlreadyReserved",
    "CapacityLedger",
    "ClusterState",
    "LedgerError",
    "NodeView",
    "OverCapacity",
    "PendingInstance",
    "Placement",
    "Plan",
    "Reservation",
    "Strategy",
    "UnknownNode",
    "Unplaced",
    "job_needs",
    "never_placeable",
    "never_placeable_gang",
    "node_tags",
    "plan_gang",
    "plan_placements",
    "runtime_requests",
    "runtime_totals",
]


def __getattr__(name: str) -> Any:
    # Why an instance fits no node is worked out when one does not (see _planner), or
    # when a command asks (``never_placeable``): a Conductor that placed everything
    # has not loaded it.
    if name != "never_placeable":
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from ._reasons import never_placeable

    return never_placeable
