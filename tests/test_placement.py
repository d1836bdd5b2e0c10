"""The pure placement core: eligibility, strategies, tie-breaks, reasons."""

from __future__ import annotations

import pytest

from symphony.conductor.placement import (
    NodeView,
    PendingInstance,
    Plan,
    never_placeable,
    plan_placements,
)


def node(
    node_id: str,
    total: dict[str, int],
    used: dict[str, int] | None = None,
    *,
    groups: tuple[str, ...] = ("gpu-1",),
    ready: bool = True,
) -> NodeView:
    return NodeView(node_id, frozenset(groups), ready, total, used or {})


def job(
    instance_id: str,
    requests: dict[str, int],
    *,
    group: str | None = "gpu-1",
    strategy: str = "spread",
    avoid: frozenset[str] = frozenset(),
) -> PendingInstance:
    return PendingInstance(instance_id, "d1", group, requests, strategy, avoid)  # type: ignore[arg-type]


def where(plan: Plan) -> dict[str, str]:
    return {p.instance_id: p.node_id for p in plan.placements}


def reasons(plan: Plan) -> dict[str, str]:
    return {u.instance_id: u.reason for u in plan.unplaced}


def test_placement_eligibility_needs_ready_group_and_every_class() -> None:
    nodes = [
        node("a", {"A": 10}, ready=False),
        node("b", {"A": 10}, groups=("cpu",)),
        node("c", {"A": 10}),  # lacks B: counts as 0
        node("d", {"A": 10, "B": 1}),
    ]
    plan = plan_placements(nodes, [job("i1", {"A": 1, "B": 1})])
    assert where(plan) == {"i1": "d"}


def test_placement_no_group_means_any_group() -> None:
    nodes = [node("a", {"A": 1}, groups=("x",)), node("b", {"A": 5}, groups=("y",))]
    plan = plan_placements(nodes, [job("i1", {"A": 3}, group=None)])
    assert where(plan) == {"i1": "b"}


def test_placement_spread_picks_least_utilized_after_placing() -> None:
    # Before placing, "small" looks emptier (0.5 vs 0.6); after placing 5 it is full.
    nodes = [node("small", {"A": 10}, {"A": 5}), node("big", {"A": 100}, {"A": 60})]
    assert where(plan_placements(nodes, [job("i1", {"A": 5})])) == {"i1": "big"}


def test_placement_utilization_is_the_largest_fraction_over_all_classes() -> None:
    # "a" is nearly full in B although the request only asks for A.
    nodes = [node("a", {"A": 10, "B": 10}, {"B": 9}), node("b", {"A": 10}, {"A": 5})]
    assert where(plan_placements(nodes, [job("i1", {"A": 1})])) == {"i1": "b"}
    plan = plan_placements(nodes, [job("i1", {"A": 1}, strategy="binpack")])
    assert where(plan) == {"i1": "a"}


def test_placement_binpack_picks_most_utilized_that_fits() -> None:
    nodes = [
        node("a", {"A": 10}, {"A": 9}),  # most utilized but 2 do not fit
        node("b", {"A": 10}, {"A": 7}),
        node("c", {"A": 10}, {"A": 1}),
    ]
    assert where(plan_placements(nodes, [job("i1", {"A": 2}, strategy="binpack")])) == {"i1": "b"}


def test_placement_spread_fills_evenly_binpack_fills_one_node() -> None:
    nodes = [node("a", {"A": 4}), node("b", {"A": 4})]
    spread = plan_placements(nodes, [job(f"i{k}", {"A": 1}) for k in range(4)])
    assert sorted(where(spread).values()) == ["a", "a", "b", "b"]
    pack = [job(f"i{k}", {"A": 1}, strategy="binpack") for k in range(4)]
    assert set(where(plan_placements(nodes, pack)).values()) == {"a"}


def test_placement_ties_go_to_lowest_node_id() -> None:
    nodes = [node(n, {"A": 4}) for n in ("n3", "n1", "n2")]
    assert where(plan_placements(nodes, [job("i1", {"A": 1})])) == {"i1": "n1"}
    binpack = job("i1", {"A": 1}, strategy="binpack")
    assert where(plan_placements(nodes, [binpack])) == {"i1": "n1"}


def test_placement_plan_never_overbooks_within_itself() -> None:
    nodes = [node("a", {"A": 10})]
    plan = plan_placements(nodes, [job("i1", {"A": 6}), job("i2", {"A": 6}), job("i3", {"A": 4})])
    assert where(plan) == {"i1": "a", "i3": "a"}
    assert "i2" in reasons(plan)
    assert dict(plan.placements[0].reservation) == {"A": 6}


def test_placement_instances_taken_in_given_order() -> None:
    nodes = [node("a", {"A": 1})]
    assert where(plan_placements(nodes, [job("late", {"A": 1}), job("early", {"A": 1})])) == {
        "late": "a"
    }


def test_placement_avoid_nodes_only_as_last_resort() -> None:
    nodes = [node("a", {"A": 4}), node("b", {"A": 4}, {"A": 3})]
    plan = plan_placements(nodes, [job("i1", {"A": 1}, avoid=frozenset({"a"}))])
    assert where(plan) == {"i1": "b"}
    full = [node("a", {"A": 4}), node("b", {"A": 4}, {"A": 4})]
    plan = plan_placements(full, [job("i1", {"A": 1}, avoid=frozenset({"a"}))])
    assert where(plan) == {"i1": "a"}


def test_placement_avoid_picks_next_node_in_same_bucket() -> None:
    nodes = [node(n, {"A": 4}) for n in ("n1", "n2", "n3")]
    plan = plan_placements(nodes, [job("i1", {"A": 1}, avoid=frozenset({"n1"})), job("i2", {})])
    assert where(plan) == {"i1": "n2", "i2": "n1"}


def test_placement_empty_request_fits_any_ready_node() -> None:
    nodes = [node("a", {}, groups=("gpu-1",))]
    assert where(plan_placements(nodes, [job("i1", {})])) == {"i1": "a"}


def test_placement_duplicate_instance_placed_once() -> None:
    plan = plan_placements([node("a", {"A": 5})], [job("i1", {"A": 1}), job("i1", {"A": 1})])
    assert len(plan.placements) == 1 and not plan.unplaced


def test_placement_duplicate_node_refused() -> None:
    with pytest.raises(ValueError, match="twice"):
        plan_placements([node("a", {"A": 1}), node("a", {"A": 1})], [])


def test_placement_reason_no_node_in_group() -> None:
    plan = plan_placements([node("a", {"A": 1}, groups=("cpu",))], [job("i1", {"A": 1})])
    assert reasons(plan) == {"i1": "no node in group gpu-1"}
    assert reasons(plan_placements([], [job("i1", {}, group=None)])) == {"i1": "no node has joined"}


def test_placement_reason_none_ready() -> None:
    nodes = [node("a", {"A": 1}, ready=False), node("b", {"A": 1}, ready=False)]
    assert reasons(plan_placements(nodes, [job("i1", {"A": 1})])) == {
        "i1": "2 nodes in group gpu-1, none ready"
    }


def test_placement_reason_names_free_amount_of_best_node() -> None:
    nodes = [node("a", {"Analytic1": 4}, {"Analytic1": 4}), node("b", {"Analytic1": 4})]
    plan = plan_placements(nodes, [job("x", {"Analytic1": 4}), job("i1", {"Analytic1": 1})])
    assert reasons(plan) == {
        "i1": "no ready node in group gpu-1 has Analytic1 >= 1 free; 2 nodes in group, best has 0"
    }


def test_placement_reason_mentions_unready_nodes_and_several_classes() -> None:
    nodes = [
        node("a", {"A": 4, "B": 2}, {"A": 1}),
        node("b", {"A": 4, "B": 2}, {"B": 2}),
        node("c", {"A": 8, "B": 8}, ready=False),
    ]
    plan = plan_placements(nodes, [job("i1", {"A": 4, "B": 1})])
    assert reasons(plan) == {
        "i1": "no ready node in group gpu-1 has A >= 4 and B >= 1 free; "
        "2 of 3 nodes ready in group, best has A 3, B 2"
    }


def test_placement_reason_names_missing_class() -> None:
    plan = plan_placements([node("a", {"A": 4})], [job("i1", {"GPU": 1})])
    assert reasons(plan) == {
        "i1": "no ready node in group gpu-1 has capacity class GPU; they offer A"
    }


def test_placement_reason_of_many_classes_names_a_few_and_stays_short() -> None:
    # A spec may ask for 64 classes: the reason is stored and shown by every `ps`.
    asked = {f"Class{i:02}": 1 for i in range(64)}
    missing = plan_placements([node("a", {"A": 4})], [job("i1", asked)])
    assert reasons(missing)["i1"].startswith(
        "no ready node in group gpu-1 has capacity class Class00, Class01, Class02, "
        "Class03, Class04 (and 59 more)"
    )
    full = plan_placements([node("a", dict.fromkeys(asked, 1), asked)], [job("i1", asked)])
    reason = reasons(full)["i1"]
    assert "Class04 >= 1 (and 59 more) free" in reason and "(and 59 more)" in reason[-20:]
    long_names = {f"C{i:02}" + "x" * 60: 1 for i in range(64)}
    shown = reasons(plan_placements([node("a", {"A": 4})], [job("i1", long_names)]))["i1"]
    assert len(shown) <= 300 and shown.endswith("...")


@pytest.mark.parametrize(
    ("asked", "hint"),
    [
        ("cpus", "; did you mean cpu?"),  # a typo of what the nodes offer
        ("CPU", "; did you mean cpu?"),
        ("analytic1", "; did you mean Analytic1?"),
        ("gpu", "; they offer Analytic1, B, C, cpu, D, ..."),  # no GPU here: no guess
    ],
)
def test_placement_reason_for_a_missing_class_says_what_is_offered(asked: str, hint: str) -> None:
    offered = {"cpu": 200, "Analytic1": 10, "B": 1, "C": 1, "D": 1, "E": 1, "zero": 0}
    plan = plan_placements([node("a", offered)], [job("i1", {asked: 1})])
    assert reasons(plan) == {"i1": f"no ready node in group gpu-1 has capacity class {asked}{hint}"}


@pytest.mark.parametrize(
    "make",
    [
        lambda: NodeView("a", frozenset(), True, {"A": -1}),
        lambda: NodeView("a", frozenset(), True, {"A": True}),
        lambda: NodeView("a", frozenset(), True, {"A": 1}, {"A": 1.5}),  # type: ignore[dict-item]
        lambda: PendingInstance("i", "d", None, {"A": -2}),
        lambda: PendingInstance("i", "d", None, {"A": 1}, "random"),  # type: ignore[arg-type]
    ],
)
def test_placement_malformed_views_refused(make) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        make()


def test_placement_views_are_read_only() -> None:
    totals = {"A": 1}
    view = node("a", totals)
    totals["A"] = 100  # the caller's dict changing later does not change the view
    assert view.capacities_total["A"] == 1
    with pytest.raises(TypeError):
        view.capacities_total["A"] = 5  # type: ignore[index]


def test_placement_draining_node_takes_nothing_new() -> None:
    # The draining node is the emptiest and the lowest id: it would win any tie.
    nodes = [
        NodeView("a", frozenset({"gpu-1"}), True, {"A": 100}, draining=True),
        node("b", {"A": 10}, {"A": 5}),
    ]
    plan = plan_placements(nodes, [job("i1", {"A": 1}), job("i2", {"A": 1}, strategy="binpack")])
    assert where(plan) == {"i1": "b", "i2": "b"}
    assert not nodes[0].eligible and nodes[1].eligible


def test_placement_draining_not_even_as_a_last_resort() -> None:
    # Unlike an avoided node, a draining one is never used, even when nothing else fits.
    nodes = [NodeView("a", frozenset({"gpu-1"}), True, {"A": 4}, draining=True)]
    plan = plan_placements(nodes, [job("i1", {"A": 1}, avoid=frozenset({"b"}))])
    assert where(plan) == {}
    assert reasons(plan) == {"i1": "1 node in group gpu-1, none taking new work: 1 draining"}


def test_placement_reason_counts_draining_and_unready_nodes_apart() -> None:
    nodes = [
        NodeView("a", frozenset({"gpu-1"}), True, {"A": 4}, draining=True),
        NodeView("b", frozenset({"gpu-1"}), False, {"A": 4}, draining=True),
        node("c", {"A": 4}, ready=False),
    ]
    assert reasons(plan_placements(nodes, [job("i1", {"A": 1})])) == {
        "i1": "3 nodes in group gpu-1, none taking new work: 1 draining, 2 not ready"
    }
    nodes.append(node("d", {"A": 4}, {"A": 4}))
    assert reasons(plan_placements(nodes, [job("i1", {"A": 1})])) == {
        "i1": "no ready node in group gpu-1 has A >= 1 free; 1 of 4 nodes ready in group, "
        "1 draining, best has 0"
    }


def test_placement_cluster_state_drain_and_undrain_keep_reservations() -> None:
    from symphony.conductor.placement import ClusterState

    state = ClusterState()
    state.upsert_node("a", groups=["gpu-1"], ready=True, capacities_total={"A": 4})
    state.upsert_node("b", groups=["gpu-1"], ready=True, capacities_total={"A": 4})
    first = state.schedule([job("i1", {"A": 2})])
    assert where(first) == {"i1": "a"}
    state.set_draining("a", True)
    assert state.view("a").draining and state.ledger.used("a") == {"A": 2}
    assert where(state.schedule([job("i2", {"A": 1}), job("i3", {"A": 1})])) == {
        "i2": "b",
        "i3": "b",
    }
    state.set_ready("a", False)  # a draining node that disconnects stays draining
    state.set_ready("a", True)
    assert state.view("a").draining
    assert reasons(state.plan([job("i4", {"A": 3})])) == {
        "i4": "no ready node in group gpu-1 has A >= 3 free; 1 of 2 nodes ready in group, "
        "1 draining, best has 2"
    }
    state.set_draining("a", False)
    assert where(state.schedule([job("i4", {"A": 2})])) == {"i4": "a"}
    assert state.ledger.used("a") == {"A": 4}


def test_never_placeable_counts_totals_not_what_is_used() -> None:
    full = node("n1", {"A": 4}, {"A": 4})
    # Full now, but it would fit on the idle node: only waiting for room, no warning.
    assert never_placeable([full], "gpu-1", {"A": 4}) is None
    assert never_placeable([full], "gpu-1", {"A": 5}) == (
        "no ready node in group gpu-1 has A >= 5 in all; the largest has A 4"
    )
    assert never_placeable([full], "gpu-1", {"A": 0}) is None  # asks for nothing


def test_never_placeable_names_what_no_ready_node_offers() -> None:
    nodes = [node("n1", {"cpu": 200}), node("n2", {"gpu": 1}, ready=False)]
    assert never_placeable(nodes, "gpu-1", {"gpu": 1}) == (
        "no ready node in group gpu-1 has capacity class gpu; they offer cpu"
    )
    assert never_placeable(nodes, "gpu1", {}) == "no node in group gpu1; did you mean gpu-1?"
    assert never_placeable([], None, {"cpu": 1}) == "no node has joined"
    assert never_placeable(nodes[1:], "gpu-1", {"gpu": 1}) == "1 node in group gpu-1, none ready"
