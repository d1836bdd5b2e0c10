"""After a Conductor restart, a move is a move: the peers of a moved name restart.

Where each name was last given lived only in the Scheduler's memory: after a restart
it knew only what the nodes that came back reported. A process whose node never came
back was then placed again elsewhere as if for the first time, and the processes
connecting to it kept its old address. Real actors (registry, Scheduler, Deployments)
on a real store, recording node links, a virtual clock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
import trio.testing

from symphony.actors import spawn
from symphony.conductor.deployments.experiment_placement import ExperimentPlacer
from symphony.conductor.deployments.experiments import CreateExperiment
from symphony.conductor.deployments.messages import AdoptReservation, LastPlace
from symphony.conductor.deployments.roles import last_place
from symphony.conductor.nodes.model import NodeHeartbeat, NodeStatuses, RegisterNode
from symphony.conductor.store import DeploymentRecord, InstanceRecord, Store
from symphony.spec import ExperimentRole, parse_experiment
from symphony.wire import (
    PROTOCOL_VERSION,
    Heartbeat,
    Hello,
    InstanceStatus,
    StartInstance,
    StopInstance,
)
from symphony.wire.states import InstanceState as S

from ..deployments.test_reschedule import NODES, NodeLink, conductor_tree, connect_nodes
from .test_moved_names import B, cluster, request


def experiment() -> CreateExperiment:
    spec, processes = parse_experiment(
        {
            "name": "rc",
            "processes": [
                {
                    "name": "srv",
                    "command": ["true"],
                    "binds": "srv",
                    "node_group": "gpu-1",
                    "capacity_requests": {"Analytic1": 2},
                },
                {
                    "name": "cli",
                    "command": ["true"],
                    "connects": "srv",
                    "node_group": "gpu-1",
                    "capacity_requests": {"Analytic1": 2},
                },
            ],
        }
    )
    return CreateExperiment(spec, tuple(processes))


async def test_a_process_whose_node_never_came_back_after_a_restart_moves_its_peers(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    db = tmp_path / "symphony.db"
    commands: list[tuple[str, Any]] = []
    store = Store.open(db)
    tree = conductor_tree(store, node_timeout_sec=1e9)
    async with trio.open_nursery() as nursery:
        await spawn(nursery, tree, name="conductor")
        sessions = await connect_nodes(nursery, tree, NODES, commands)
        await tree.child("deployments").ask(experiment())
        await trio.testing.wait_all_tasks_blocked()
        starts = {c.deployment_name: (n, c) for n, c in commands if isinstance(c, StartInstance)}
        assert sorted(starts) == ["rc.cli", "rc.srv"] and starts["rc.srv"][0] != starts["rc.cli"][0]
        for node_id, start in starts.values():
            update = InstanceStatus(
                instance_id=start.instance_id, deployment_id=start.deployment_id, state="running"
            )
            await tree.child("registry").tell(NodeStatuses(node_id, sessions[node_id], (update,)))
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    store.close()

    # The Conductor restarts; only cli's node comes back (still running cli): srv's
    # node is lost once its grace is over.
    cli_node, cli_start = starts["rc.cli"]
    commands.clear()
    store = Store.open(db)
    tree = conductor_tree(store, node_timeout_sec=5)
    async with trio.open_nursery() as nursery:
        await spawn(nursery, tree, name="conductor")
        registry = tree.child("registry")
        link = await spawn(nursery, NodeLink(cli_node, commands))
        running = InstanceStatus(
            instance_id=cli_start.instance_id,
            deployment_id=cli_start.deployment_id,
            state="running",
        )
        hello = Hello(
            protocol_version=PROTOCOL_VERSION,
            node_id=cli_node,
            groups=("gpu-1",),
            capacities_total={"Analytic1": 4},
            instances=(running,),
        )
        assert await registry.ask(RegisterNode(link, hello, "test", False, 1.0)) is None
        for seq in range(60):  # past the grace of a node expected back
            await registry.tell(NodeHeartbeat(cli_node, link, Heartbeat(seq=seq, usage={})))
            await trio.sleep(1)
        moved = [c for n, c in commands if isinstance(c, StartInstance)]
        assert [c.deployment_name for c in moved] == ["rc.srv"]
        stops = [c.instance_id for n, c in commands if isinstance(c, StopInstance)]
        assert stops == [cli_start.instance_id]  # cli restarts to reach srv's new place
        nursery.cancel_scope.cancel()
    store.close()


def test_a_restart_to_reconnect_under_way_at_a_conductor_restart_still_goes_back() -> None:
    # The placer alone, as the Scheduler starts afresh: b was stopped to reconnect
    # (its replacement not placed yet); a still runs, on n1.
    a = ExperimentRole(name="x", process="a", binds={"a-svc": None}, connects=["b-svc"], size=2)
    state, placer = cluster(), ExperimentPlacer()
    state.upsert_node("n3", groups=["g"], ready=True, capacities_total={"A": 10})
    state.reserve("n1", "a-1", {"A": 5})
    placer.adopted(AdoptReservation("a-1", "n1", {"A": 5}, "x", "x.a", {"a-svc": 20000}, a))
    placer.recalled(LastPlace("x", "b", "n2", {"b-svc": 20007}, reconnecting=True))
    again = placer.plan(state, "x", [request("b-2", B)])
    assert [p.node_id for p in again.plan.placements] == ["n2"]  # not spread's n3
    assert placer.addresses.last_places("x")["b-svc"] == ("n2", 20007)
    assert again.reconnect == []  # back where a has it: a keeps running


def test_the_last_place_a_supervisor_tells_is_its_latest_placed_instance() -> None:
    [b_spec] = [
        p
        for p in parse_experiment(
            {"name": "x", "processes": [{"name": "b", "command": ["true"], "binds": "b-svc"}]}
        )[1]
    ]
    record = DeploymentRecord(
        id="x.b", name="x.b", spec=b_spec, generation=1, created_at=0.0, updated_at=0.0
    )
    network = {"ports": {"b-svc": 20003}, "env": {}}

    def inst(name: str, state: S, node_id: str | None, finished: float | None) -> InstanceRecord:
        return InstanceRecord(
            id=name,
            deployment_id="x.b",
            replica=0,
            state=state,
            node_id=node_id,
            network=network if node_id else None,
            finished_at=finished,
        )

    older = inst("b-0", S.LOST, "n1", 1.0)
    stopped = inst("b-1", S.STOPPED, "n2", 2.0)
    pending = inst("b-2", S.PENDING, None, None)
    # Stopped, its replacement waiting: a restart to reconnect under way (goes back).
    assert last_place(record, [older, stopped, pending]) == LastPlace(
        "x", "b", "n2", {"b-svc": 20003}, reconnecting=True
    )
    # Stopped with nothing waiting (the experiment was stopped): its place only.
    assert last_place(record, [older, stopped]) == LastPlace("x", "b", "n2", {"b-svc": 20003})
    assert last_place(record, [pending]) is None  # never placed
    # Failed there (its node may have refused the port): the node, not the ports.
    failed = inst("b-3", S.FAILED, "n2", 3.0)
    assert last_place(record, [older, stopped, failed, pending]) == LastPlace("x", "b", "n2", {})
