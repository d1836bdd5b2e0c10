"""CapacityLedger and ClusterState: reservations that never go negative or over total."""

from __future__ import annotations

import pytest

from symphony.conductor.placement import (
    AlreadyReserved,
    CapacityLedger,
    ClusterState,
    OverCapacity,
    PendingInstance,
    Placement,
    Plan,
    UnknownNode,
    plan_placements,
)


def ledger_with(**totals: dict[str, int]) -> CapacityLedger:
    ledger = CapacityLedger()
    for node_id, amounts in totals.items():
        ledger.set_node(node_id, amounts)
    return ledger


def test_ledger_reserve_and_release_move_used() -> None:
    ledger = ledger_with(a={"A": 10, "B": 2})
    held = ledger.reserve("a", "i1", {"A": 4, "B": 1})
    assert dict(ledger.used("a")) == {"A": 4, "B": 1}
    assert dict(ledger.free("a")) == {"A": 6, "B": 1}
    assert ledger.reservation("i1") == held
    assert ledger.release("i1") == held
    assert dict(ledger.used("a")) == {}


def test_ledger_release_is_idempotent_never_negative() -> None:
    ledger = ledger_with(a={"A": 10})
    ledger.reserve("a", "i1", {"A": 4})
    ledger.release("i1")
    assert ledger.release("i1") is None
    assert ledger.release("never-held") is None
    assert dict(ledger.free("a")) == {"A": 10}


def test_ledger_refuses_over_total_and_missing_class() -> None:
    ledger = ledger_with(a={"A": 10})
    ledger.reserve("a", "i1", {"A": 8})
    with pytest.raises(OverCapacity, match="'a'"):
        ledger.reserve("a", "i2", {"A": 3})
    with pytest.raises(OverCapacity):
        ledger.reserve("a", "i3", {"GPU": 1})
    assert dict(ledger.used("a")) == {"A": 8}  # a refused reservation changes nothing


def test_ledger_refuses_unknown_node_and_double_reservation() -> None:
    ledger = ledger_with(a={"A": 10})
    with pytest.raises(UnknownNode):
        ledger.reserve("zz", "i1", {"A": 1})
    ledger.reserve("a", "i1", {"A": 1})
    with pytest.raises(AlreadyReserved):
        ledger.reserve("a", "i1", {"A": 1})


@pytest.mark.parametrize("amount", [-1, True, 1.5, "2"])
def test_ledger_refuses_malformed_amounts(amount: object) -> None:
    ledger = ledger_with(a={"A": 10})
    with pytest.raises(ValueError):
        ledger.reserve("a", "i1", {"A": amount})  # type: ignore[dict-item]
    with pytest.raises(ValueError):
        ledger.set_node("b", {"A": amount})  # type: ignore[dict-item]


def test_ledger_apply_is_all_or_nothing() -> None:
    ledger = ledger_with(a={"A": 10})
    plan = Plan(
        placements=(
            Placement("i1", "d", "a", {"A": 6}),
            Placement("i2", "d", "a", {"A": 6}),
        )
    )
    with pytest.raises(OverCapacity):
        ledger.apply(plan)
    assert ledger.reservation("i1") is None and dict(ledger.used("a")) == {}


def test_ledger_remove_node_returns_its_reservations() -> None:
    ledger = ledger_with(a={"A": 10}, b={"A": 10})
    ledger.reserve("a", "i1", {"A": 1})
    ledger.reserve("b", "i2", {"A": 1})
    assert [r.instance_id for r in ledger.remove_node("a")] == ["i1"]
    assert ledger.reservation("i1") is None and not ledger.has_node("a")
    assert ledger.node_ids() == ["b"]


def test_ledger_shrunk_totals_keep_reservations_and_refuse_more() -> None:
    ledger = ledger_with(a={"A": 10})
    ledger.reserve("a", "i1", {"A": 8})
    ledger.set_node("a", {"A": 4})
    assert dict(ledger.free("a")) == {"A": 0}
    assert not ledger.fits("a", {"A": 1})
    view = ledger.view("a", groups=["g"], ready=True)
    assert dict(view.capacities_used) == {"A": 8} and view.free("A") == 0


def test_cluster_state_schedule_reserves_and_plan_does_not() -> None:
    state = ClusterState()
    state.upsert_node("a", groups=["g"], ready=True, capacities_total={"A": 2})
    job = PendingInstance("i1", "d", "g", {"A": 2})
    assert state.plan([job]).placements[0].node_id == "a"
    assert state.ledger.reservation("i1") is None
    assert state.plan([job]).placements  # the dry run left capacity free
    state.schedule([job])
    assert state.ledger.reservation("i1") is not None
    other = PendingInstance("i2", "d", "g", {"A": 1})
    assert state.schedule([other]).unplaced
    state.release("i1")
    assert state.schedule([other]).placements[0].node_id == "a"


def test_cluster_state_follows_readiness_and_removal() -> None:
    state = ClusterState()
    state.upsert_node("a", groups=["g"], ready=True, capacities_total={"A": 2})
    state.reserve("a", "i0", {"A": 1})
    state.set_ready("a", False)
    job = PendingInstance("i1", "d", "g", {"A": 1})
    assert state.plan([job]).unplaced[0].reason == "1 node in group g, none ready"
    state.set_ready("a", True)
    assert state.plan([job]).placements
    assert [r.instance_id for r in state.remove_node("a")] == ["i0"]
    assert state.plan([job]).unplaced[0].reason == "no node in group g"
    with pytest.raises(UnknownNode):
        state.set_ready("a", True)


def test_cluster_state_plans_like_plan_placements() -> None:
    state = ClusterState()
    for k in range(6):
        state.upsert_node(
            f"n{k}", groups=["g", f"h{k % 2}"], ready=k != 3, capacities_total={"A": 4 + k}
        )
    jobs = [
        PendingInstance(f"i{k}", "d", "g" if k % 3 else None, {"A": 1 + k % 3}, "binpack")
        for k in range(12)
    ]
    assert state.plan(jobs) == plan_placements(state.views(), jobs)
