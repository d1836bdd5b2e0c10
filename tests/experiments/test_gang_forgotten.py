"""An experiment whose processes all ended (deleted, or stopped) leaves nothing behind in
the placer: one created again under its name is placed as a new one.

The placer alone (plain state). A restart to reconnect that was never carried out (the
experiment was deleted first) used to make the new experiment's process of that name
shun every node but the old one, and its names kept their old ports.
"""

from __future__ import annotations

from symphony.conductor.deployments.experiment_placement import ExperimentPlacer
from symphony.conductor.placement import ClusterState

from .test_moved_names import cluster, request
from .test_sticky_ports import A, B, C, b_told_to_restart, gone


def _placed_fresh(state: ClusterState, placer: ExperimentPlacer) -> dict[str, str]:
    trio = [request("a-9", A, 3), request("b-9", B, 3), request("c-9", C, 3)]
    outcome = placer.plan(state, "x", trio)
    return {p.instance_id: p.node_id for p in outcome.plan.placements}


def test_an_experiment_created_again_inherits_no_restart_nor_address() -> None:
    state, placer, a_node, b_node = b_told_to_restart()  # b would go back to b_node
    for instance_id in ("a-2", "b-1", "c-1"):  # deleted before b restarted
        gone(state, placer, instance_id)
    assert placer.addresses.last_places("x") == {}
    fresh = cluster()
    for each in (state, fresh):
        each.upsert_node(a_node, groups=["g"], ready=True, capacities_total={"A": 10})
        each.upsert_node("n3", groups=["g"], ready=True, capacities_total={"A": 10})
        each.reserve(b_node, "other", {"A": 5})  # spread prefers the emptier nodes
    placed = _placed_fresh(state, placer)
    assert placed == _placed_fresh(fresh, ExperimentPlacer())
    assert b_node not in placed.values()


def test_a_restart_its_owner_does_not_carry_out_steers_nothing() -> None:
    state, placer, _, b_node = b_told_to_restart()
    placer.not_restarted(["b-1"])  # b-1 was stopping already (say, its spec changed)
    gone(state, placer, "b-1")
    state.upsert_node("n3", groups=["g"], ready=True, capacities_total={"A": 10})
    again = placer.plan(state, "x", [request("b-2", B, 3)])  # placed like any other
    assert [p.node_id for p in again.plan.placements] == ["n3"] != [b_node]
