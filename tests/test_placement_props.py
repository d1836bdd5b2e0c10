"""Property test of the placement core against a simple model of a cluster.

Random sequences of node joins, losses, readiness and draining changes, deployments created,
scaled, stopped, started and deleted, and instances failing. After every step the model
re-plans every pending instance (as the Scheduler does) and checks:

- no node's reservations exceed its capacity in any class;
- no instance holds capacity twice, and only live instances hold any;
- an instance left pending truly fits nowhere (brute force over the nodes);
- the live ``ClusterState`` plans exactly like ``plan_placements`` on fresh views.
"""

from __future__ import annotations

from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from symphony.conductor.placement import ClusterState, PendingInstance, plan_placements

GROUPS = ["g1", "g2"]
CLASSES = ["A", "B"]

amounts = st.dictionaries(st.sampled_from(CLASSES), st.integers(0, 6), max_size=2)
requests = st.dictionaries(st.sampled_from(CLASSES), st.integers(1, 4), max_size=2)


class Cluster(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.state = ClusterState()
        self.nodes: dict[str, tuple[frozenset[str], dict[str, int], bool]] = {}
        self.draining: set[str] = set()  # nodes being drained: they take nothing new
        # deployment -> (group, requests, replicas, strategy, running)
        self.deployments: dict[str, tuple[str | None, dict[str, int], int, str, bool]] = {}
        self.held: dict[str, tuple[str, dict[str, int]]] = {}  # instance -> node, amounts
        self.avoid: dict[str, frozenset[str]] = {}
        self.unplaced: list[PendingInstance] = []
        self.counter = 0

    # ---- the model's view of instances -------------------------------------------------

    def instances(self) -> dict[str, PendingInstance]:
        out = {}
        for dep, (group, req, replicas, strategy, running) in sorted(self.deployments.items()):
            for r in range(replicas if running else 0):
                iid = f"{dep}/{r}"
                avoid = self.avoid.get(iid, frozenset())
                out[iid] = PendingInstance(iid, dep, group, req, strategy, avoid)  # type: ignore[arg-type]
        return out

    def forget_dead(self) -> None:
        live = self.instances()
        for iid in [i for i in self.held if i not in live]:
            self.state.release(iid)
            del self.held[iid]

    def replan(self) -> None:
        self.forget_dead()
        pending = [inst for iid, inst in self.instances().items() if iid not in self.held]
        dry = self.state.plan(pending)
        assert dry == plan_placements(self.state.views(), pending)
        plan = self.state.schedule(pending)
        assert plan == dry
        for p in plan.placements:
            assert p.instance_id not in self.held, "placed twice"
            assert p.node_id not in self.draining, f"{p.instance_id} placed on a draining node"
            self.held[p.instance_id] = (p.node_id, dict(p.reservation))
        placed = {p.instance_id for p in plan.placements}
        self.unplaced = [inst for inst in pending if inst.instance_id not in placed]
        assert {u.instance_id for u in plan.unplaced} == {i.instance_id for i in self.unplaced}
        assert all(u.reason for u in plan.unplaced)

    # ---- rules ----------------------------------------------------------------------------

    @rule(groups=st.sets(st.sampled_from(GROUPS), max_size=2), totals=amounts, ready=st.booleans())
    def node_joins(self, groups: set[str], totals: dict[str, int], ready: bool) -> None:
        self.counter += 1
        node_id = f"n{self.counter:03d}"
        self.nodes[node_id] = (frozenset(groups), totals, ready)
        self.state.upsert_node(node_id, groups=groups, ready=ready, capacities_total=totals)
        self.replan()

    @precondition(lambda self: self.nodes)
    @rule(data=st.data())
    def node_lost(self, data: st.DataObject) -> None:
        node_id = data.draw(st.sampled_from(sorted(self.nodes)))
        released = {r.instance_id for r in self.state.remove_node(node_id)}
        assert released == {i for i, (n, _) in self.held.items() if n == node_id}
        for iid in released:
            del self.held[iid]
        del self.nodes[node_id]
        self.draining.discard(node_id)
        self.replan()

    @precondition(lambda self: self.nodes)
    @rule(data=st.data())
    def node_readiness_flips(self, data: st.DataObject) -> None:
        node_id = data.draw(st.sampled_from(sorted(self.nodes)))
        groups, totals, ready = self.nodes[node_id]
        self.nodes[node_id] = (groups, totals, not ready)
        self.state.set_ready(node_id, not ready)
        self.replan()

    @precondition(lambda self: self.nodes)
    @rule(data=st.data())
    def node_draining_flips(self, data: st.DataObject) -> None:
        node_id = data.draw(st.sampled_from(sorted(self.nodes)))
        self.draining ^= {node_id}
        self.state.set_draining(node_id, node_id in self.draining)
        self.replan()

    @rule(
        group=st.sampled_from([None, *GROUPS]),
        req=requests,
        replicas=st.integers(0, 4),
        strategy=st.sampled_from(["spread", "binpack"]),
    )
    def deployment_created(
        self, group: str | None, req: dict[str, int], replicas: int, strategy: str
    ) -> None:
        self.counter += 1
        self.deployments[f"d{self.counter:03d}"] = (group, req, replicas, strategy, True)
        self.replan()

    @precondition(lambda self: self.deployments)
    @rule(data=st.data(), replicas=st.integers(0, 5))
    def deployment_scaled(self, data: st.DataObject, replicas: int) -> None:
        dep = data.draw(st.sampled_from(sorted(self.deployments)))
        group, req, _, strategy, running = self.deployments[dep]
        self.deployments[dep] = (group, req, replicas, strategy, running)
        self.replan()

    @precondition(lambda self: self.deployments)
    @rule(data=st.data())
    def deployment_stopped_or_started(self, data: st.DataObject) -> None:
        dep = data.draw(st.sampled_from(sorted(self.deployments)))
        group, req, replicas, strategy, running = self.deployments[dep]
        self.deployments[dep] = (group, req, replicas, strategy, not running)
        self.replan()

    @precondition(lambda self: self.deployments)
    @rule(data=st.data())
    def deployment_deleted(self, data: st.DataObject) -> None:
        del self.deployments[data.draw(st.sampled_from(sorted(self.deployments)))]
        self.replan()

    @precondition(lambda self: self.held)
    @rule(data=st.data())
    def instance_fails(self, data: st.DataObject) -> None:
        iid = data.draw(st.sampled_from(sorted(self.held)))
        node_id, _ = self.held.pop(iid)
        self.state.release(iid)
        self.avoid[iid] = frozenset({node_id})  # prefer another node next time
        self.replan()

    # ---- invariants -----------------------------------------------------------------------

    @invariant()
    def no_node_over_capacity(self) -> None:
        for node_id, (_, totals, _) in self.nodes.items():
            used: dict[str, int] = {}
            for n, amounts in self.held.values():
                if n == node_id:
                    for c, r in amounts.items():
                        used[c] = used.get(c, 0) + r
            for c, u in used.items():
                assert u <= totals.get(c, 0), (node_id, c, u, totals)
            assert dict(self.state.ledger.used(node_id)) == used

    @invariant()
    def reservations_match_live_instances(self) -> None:
        live = self.instances()
        assert set(self.held) <= set(live)
        for instance_id, (node_id, _) in self.held.items():
            held = self.state.ledger.reservation(instance_id)
            assert held is not None and held.node_id == node_id

    @invariant()
    def pending_instances_fit_nowhere(self) -> None:
        for inst in self.unplaced:
            for node_id, (groups, totals, ready) in self.nodes.items():
                if not ready or (inst.node_group is not None and inst.node_group not in groups):
                    continue
                if node_id in self.draining:
                    continue
                used: dict[str, int] = {}
                for n, held in self.held.values():
                    if n == node_id:
                        for c, r in held.items():
                            used[c] = used.get(c, 0) + r
                fits = all(
                    totals.get(c, 0) - used.get(c, 0) >= r
                    for c, r in inst.capacity_requests.items()
                )
                assert not fits, f"{inst.instance_id} stayed pending but fits on {node_id}"


TestPlacementProperties = Cluster.TestCase
TestPlacementProperties.settings = settings(max_examples=80, stateful_step_count=30, deadline=None)
