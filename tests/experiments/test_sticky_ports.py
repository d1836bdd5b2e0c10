"""A process placed again on its node keeps its ports: a restart to reconnect moves
nothing, so a chain of connects (c -> b -> a) follows a move to its end.

The placer alone (plain state): a process restarted to reconnect that does land
elsewhere moved for real, and the processes that connect to it follow; the chase still
ends, since a restart gets its old node and ports back whenever they are free.
"""

from __future__ import annotations

from dataclasses import replace

from symphony.conductor.deployments.experiment_placement import ExperimentPlacer
from symphony.conductor.placement import ClusterState
from symphony.spec import ExperimentRole

from .test_moved_names import cluster, request

A = ExperimentRole(name="x", process="a", binds={"a-svc": None}, size=3)
B = ExperimentRole(name="x", process="b", binds={"b-svc": None}, connects=["a-svc"], size=3)
C = ExperimentRole(name="x", process="c", binds={"c-svc": None}, connects=["b-svc"], size=3)


def drain(state: ClusterState, node_id: str) -> None:
    state.upsert_node(node_id, groups=["g"], ready=True, capacities_total={"A": 10}, draining=True)


def gone(state: ClusterState, placer: ExperimentPlacer, instance_id: str) -> None:
    state.release(instance_id)
    placer.released(instance_id)


def chain() -> tuple[ClusterState, ExperimentPlacer]:
    state, placer = cluster(), ExperimentPlacer()
    trio = [request("a-1", A, 3), request("b-1", B, 3), request("c-1", C, 3)]
    assert len(placer.plan(state, "x", trio).plan.placements) == 3
    return state, placer


def b_told_to_restart() -> tuple[ClusterState, ExperimentPlacer, str, str]:
    """The chain, after a's node was drained: a moved, b is told to restart (a's old
    node, b's node)."""
    state, placer = chain()
    b_node = placer.addresses.last_places("x")["b-svc"][0]
    a_node = placer.addresses.last_places("x")["a-svc"][0]
    drain(state, a_node)
    gone(state, placer, "a-1")
    assert placer.plan(state, "x", [request("a-2", A, 3)]).reconnect == ["b-1"]
    return state, placer, a_node, b_node


def test_a_restart_to_reconnect_keeps_its_node_and_port_so_the_chain_holds() -> None:
    state, placer = chain()
    b_place = placer.addresses.last_places("x")["b-svc"]
    a_node = placer.addresses.last_places("x")["a-svc"][0]
    drain(state, a_node)
    gone(state, placer, "a-1")
    moved = placer.plan(state, "x", [request("a-2", A, 3)])
    assert moved.reconnect == ["b-1"]
    gone(state, placer, "b-1")  # b stops to reconnect; its replacement is placed
    again = placer.plan(state, "x", [request("b-2", B, 3)])
    assert [p.node_id for p in again.plan.placements] == [b_place[0]]
    # b is where c was told it is: c needs no restart, and its address is right.
    assert placer.addresses.last_places("x")["b-svc"] == b_place
    assert again.reconnect == []


def test_a_restart_to_reconnect_prefers_its_node_over_the_strategy() -> None:
    state, placer = chain()  # a and c on n1, b on n2
    b_node = placer.addresses.last_places("x")["b-svc"][0]
    drain(state, placer.addresses.last_places("x")["a-svc"][0])
    gone(state, placer, "a-1")
    assert placer.plan(state, "x", [request("a-2", A, 3)]).reconnect == ["b-1"]
    state.upsert_node("n3", groups=["g"], ready=True, capacities_total={"A": 10})
    gone(state, placer, "b-1")  # spread would put b's replacement on the empty n3
    again = placer.plan(state, "x", [request("b-2", B, 3)])
    assert [p.node_id for p in again.plan.placements] == [b_node]
    assert again.reconnect == []


def test_a_restart_to_reconnect_that_lands_elsewhere_moves_its_dependents() -> None:
    state, placer, _, b_node = b_told_to_restart()
    drain(state, b_node)  # b's node is drained before b's replacement is placed
    for node_id in {"n1", "n2"} - {b_node}:
        state.upsert_node(node_id, groups=["g"], ready=True, capacities_total={"A": 10})
    gone(state, placer, "b-1")
    again = placer.plan(state, "x", [request("b-2", B, 3)])
    assert [p.node_id for p in again.plan.placements] != [b_node]
    assert again.reconnect == ["c-1"]  # c follows b (it used to keep b's old address)


def test_a_process_that_failed_on_its_node_gets_a_new_port_there() -> None:
    # Its node refused the port (another program holds it): the replacement avoids the
    # node; placed there all the same (nothing else fits), it takes the next port.
    state, placer = chain()
    a_place = placer.addresses.last_places("x")["a-svc"]
    for node_id in {"n1", "n2"} - {a_place[0]}:
        drain(state, node_id)
    gone(state, placer, "a-1")
    retry = request("a-2", A, 3)
    avoid = replace(retry.pending, avoid_nodes=frozenset({a_place[0]}))
    moved = placer.plan(state, "x", [replace(retry, pending=avoid)])
    assert [p.node_id for p in moved.plan.placements] == [a_place[0]]
    assert placer.addresses.last_places("x")["a-svc"][1] != a_place[1]
    assert moved.reconnect == ["b-1"]


def test_restarts_chasing_round_a_cycle_end_once_a_restart_lands_back() -> None:
    p = ExperimentRole(name="x", process="p", binds={"p-svc": None}, connects=["q-svc"], size=2)
    q = ExperimentRole(name="x", process="q", binds={"q-svc": None}, connects=["p-svc"], size=2)
    state, placer = cluster(), ExperimentPlacer()
    placer.plan(state, "x", [request("p-1", p), request("q-1", q)])
    p_node = placer.addresses.last_places("x")["p-svc"][0]
    q_node = placer.addresses.last_places("x")["q-svc"][0]
    drain(state, q_node)
    gone(state, placer, "q-1")
    assert placer.plan(state, "x", [request("q-2", q)]).reconnect == ["p-1"]
    drain(state, p_node)  # p's restart cannot land back: p moves, q follows
    state.upsert_node(q_node, groups=["g"], ready=True, capacities_total={"A": 10})
    gone(state, placer, "p-1")
    assert placer.plan(state, "x", [request("p-2", p)]).reconnect == ["q-2"]
    state.upsert_node(p_node, groups=["g"], ready=True, capacities_total={"A": 10})
    gone(state, placer, "q-2")  # q's restart lands back where it was: the chase ends
    back = placer.plan(state, "x", [request("q-3", q)])
    assert back.reconnect == []
