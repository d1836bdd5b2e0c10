"""Which names moved when an experiment's process is placed again (the placer alone).

A name moves when its process's new instance runs at another node or port than the
peers were given; a process restarted to reconnect goes back to its node and ports, so
two processes that connect to each other are not restarted in turn for ever.
"""

from __future__ import annotations

from symphony.conductor.deployments.experiment_placement import ExperimentPlacer
from symphony.conductor.deployments.instances import job_spec
from symphony.conductor.deployments.messages import PlacementRequest
from symphony.conductor.placement import ClusterState, PendingInstance
from symphony.spec import ExperimentRole, parse_spec
from symphony.wire import StartInstance


def cluster() -> ClusterState:
    state = ClusterState()
    for node_id in ("n1", "n2"):
        state.upsert_node(node_id, groups=["g"], ready=True, capacities_total={"A": 10})
    return state


def request(
    instance_id: str, role: ExperimentRole, size: int = 2, avoid: frozenset[str] = frozenset()
) -> PlacementRequest:
    spec = parse_spec({"name": f"x-{role.process}", "config": {"command": ["true"]}})
    start = StartInstance(
        instance_id=instance_id,
        deployment_id=f"x.{role.process}",
        deployment_name=spec.name,
        replica=0,
        spec=job_spec(spec),
    )
    pending = PendingInstance(
        instance_id=instance_id,
        deployment_id=f"x.{role.process}",
        node_group="g",
        capacity_requests={"A": 5},
        gang="x",
        avoid_nodes=avoid,
    )
    return PlacementRequest(pending=pending, start=start, gang_size=size, role=role)


A = ExperimentRole(name="x", process="a", binds={"a-svc": None}, connects=["b-svc"], size=2)
B = ExperimentRole(name="x", process="b", binds={"b-svc": None}, connects=["a-svc"], size=2)


def test_a_process_placed_on_another_node_restarts_its_peers_though_the_node_stays() -> None:
    state, placer = cluster(), ExperimentPlacer()
    first = placer.plan(state, "x", [request("a-1", A), request("b-1", B)])
    assert len(first.plan.placements) == 2 and first.reconnect == []
    b_node = placer.addresses.last_places("x")["b-svc"][0]
    state.upsert_node(
        b_node, groups=["g"], ready=True, capacities_total={"A": 10}, draining=True
    )  # drained: the node stays in the ledger
    state.release("b-1")
    placer.released("b-1")
    again = placer.plan(state, "x", [request("b-2", B)])
    assert [p.node_id for p in again.plan.placements] != [b_node]
    assert again.reconnect == ["a-1"]


def test_restarts_to_reconnect_do_not_chase_each_other_round_a_cycle() -> None:
    state, placer = cluster(), ExperimentPlacer()
    placer.plan(state, "x", [request("a-1", A), request("b-1", B)])
    b_node = placer.addresses.last_places("x")["b-svc"][0]
    state.release("b-1")
    placer.released("b-1")  # b's node refused its port, say: placed again elsewhere
    moved = placer.plan(state, "x", [request("b-2", B, avoid=frozenset({b_node}))])
    assert moved.reconnect == ["a-1"]
    state.release("a-1")
    placer.released("a-1")  # a restarts to reconnect: its port may change
    restarted = placer.plan(state, "x", [request("a-2", A)])
    assert len(restarted.plan.placements) == 1
    assert restarted.reconnect == []  # b is not restarted in turn


def test_a_restart_to_reconnect_is_known_when_another_plan_of_the_gang_comes_first() -> None:
    c = ExperimentRole(name="x", process="c", binds={"c-svc": None}, size=3)
    state, placer = cluster(), ExperimentPlacer()
    placer.plan(state, "x", [request(i, r, 3) for i, r in (("a-1", A), ("b-1", B), ("c-1", c))])
    places = placer.addresses.last_places("x")
    state.release("b-1")
    placer.released("b-1")
    b_moves = request("b-2", B, 3, avoid=frozenset({places["b-svc"][0]}))
    assert placer.plan(state, "x", [b_moves]).reconnect == ["a-1"]
    state.release("c-1")
    placer.released("c-1")  # c moves (nobody connects to it) before a is placed again
    c_moves = request("c-2", c, 3, avoid=frozenset({places["c-svc"][0]}))
    assert placer.plan(state, "x", [c_moves]).reconnect == []
    state.release("a-1")
    placer.released("a-1")
    assert placer.plan(state, "x", [request("a-2", A, 3)]).reconnect == []


def test_a_gang_plan_undone_by_a_taken_port_leaves_the_names_where_the_peers_have_them() -> None:
    a = ExperimentRole(name="x", process="a", binds={"a-svc": 7000}, size=3)
    b = ExperimentRole(name="x", process="b", binds={"b-svc": 9000}, size=3)
    c = ExperimentRole(name="x", process="c", connects=["a-svc", "b-svc"], size=3)
    state, placer = ClusterState(), ExperimentPlacer()
    for node_id in ("n1", "n2"):
        state.upsert_node(node_id, groups=["g"], ready=True, capacities_total={"A": 100})
    placer.plan(state, "x", [request(i, r, 3) for i, r in (("a-1", a), ("b-1", b), ("c-1", c))])
    a_node = placer.addresses.last_places("x")["a-svc"][0]
    other = "n2" if a_node == "n1" else "n1"
    state.upsert_node(a_node, groups=["g"], ready=True, capacities_total={"A": 100}, draining=True)
    for lost in ("a-1", "b-1"):
        state.release(lost)
        placer.released(lost)
    placer.addresses.adopt("y", "y-1", other, {"y-svc": 9000})  # b's port is taken there
    undone = placer.plan(state, "x", [request("a-2", a, 3), request("b-2", b, 3)])
    assert undone.plan.placements == () and undone.reconnect == []
    placer.addresses.release("y-1")
    again = placer.plan(state, "x", [request("a-3", a, 3), request("b-3", b, 3)])
    assert {p.node_id for p in again.plan.placements} == {other}
    assert again.reconnect == ["c-1"]  # a moved: c still has a's old node
