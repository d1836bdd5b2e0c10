"""Gang placement (the pure core): an experiment is placed whole or not at all."""

from __future__ import annotations

from symphony.conductor.placement import ClusterState, NodeView, PendingInstance, plan_gang
from symphony.conductor.placement._index import NodeIndex


def member(k: int, amount: int, group: str | None = None, **extra: object) -> PendingInstance:
    return PendingInstance(
        f"i{k}", f"d{k}", None, {"A": amount}, gang="rl", gang_group=group, **extra
    )


def nodes(*totals: int) -> list[NodeView]:
    return [NodeView(f"n{k}", frozenset(), True, {"A": t}) for k, t in enumerate(totals, 1)]


def test_gang_places_every_member_or_none_and_leaves_the_index_as_it_was() -> None:
    index = NodeIndex(nodes(4, 4))
    # 3 + 3 fit (one per node), the third 3 does not: nothing is placed.
    plan = plan_gang(index, [member(1, 3), member(2, 3), member(3, 3)])
    assert plan.placements == ()
    assert {u.instance_id for u in plan.unplaced} == {"i1", "i2", "i3"}
    assert "does not fit" in plan.unplaced[0].reason
    assert "experiment rl" in plan.unplaced[0].reason
    # The failed attempt charged nothing: two members of 4 still fit.
    again = plan_gang(index, [member(1, 4), member(2, 4)])
    assert sorted(p.node_id for p in again.placements) == ["n1", "n2"]


def test_gang_group_lands_on_one_node_with_each_member_reserving_its_own() -> None:
    state = ClusterState()
    for view in nodes(4, 10):
        state.upsert_node(
            view.node_id,
            groups=(),
            ready=True,
            capacities_total={"A": 4 if view.node_id == "n1" else 10},
        )
    members = [member(k, 2, "group:agents") for k in range(4)] + [member(9, 1)]
    plan = state.schedule_gang(members)
    grouped = {p.node_id for p in plan.placements if p.instance_id != "i9"}
    assert grouped == {"n2"}  # 4 x 2 = 8 fits only n2, as one unit
    assert all(dict(p.reservation) == {"A": 2} for p in plan.placements if p.instance_id != "i9")
    assert state.ledger.used("n2")["A"] == 8


def test_gang_that_does_not_fit_reserves_nothing_in_the_ledger() -> None:
    state = ClusterState()
    state.upsert_node("n1", groups=(), ready=True, capacities_total={"A": 10})
    plan = state.schedule_gang([member(1, 6, "group:g"), member(2, 6, "group:g")])
    assert plan.placements == ()
    assert "group g (2 processes, A 12)" in plan.unplaced[0].reason
    assert dict(state.ledger.used("n1")).get("A", 0) == 0


def test_gang_that_needs_a_newer_protocol_says_so_even_without_capacity_requests() -> None:
    # A process of a network: relay experiment asks for no capacity but needs protocol 5;
    # the only node speaks 4. The reason names the protocol (it used to crash the
    # Scheduler: the closest node was looked for among no requests).
    index = NodeIndex(nodes(4))
    needy = PendingInstance("i1", "d1", None, {}, gang="rl", min_protocol=5)
    plan = plan_gang(index, [needy], {"n1": 4})
    assert plan.placements == ()
    assert "needs a node of protocol version 5" in plan.unplaced[0].reason
    assert "network: relay" in plan.unplaced[0].reason
