"""A ready node's claim of an instance it was never given passes placement's checks.

A claim (``claims.py``) once checked only the node's group and room: a draining node,
or one without the job's environment, could take a pending instance by reporting it
running, and a node knowing one id could take a gang's member alone (overbooking what
the gang was to be placed with). Now the Scheduler asks placement about that node
alone, and never adopts a gang's member it did not place there. Real actors, virtual
clock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
import trio.testing

from symphony.actors import spawn
from symphony.conductor.deployments import CreateDeployment, Scheduler
from symphony.conductor.deployments.messages import AdoptReservation, ClaimInstance
from symphony.conductor.nodes.model import (
    NodeChanged,
    NodeStatuses,
    NodeView,
    RegisterNode,
    SetDraining,
)
from symphony.conductor.store import Store
from symphony.wire import PROTOCOL_VERSION, Hello, InstanceStatus, StopInstance

from ..link.test_registry import Recorder
from .test_reschedule import NodeLink, conductor_tree, spec


async def test_a_draining_node_or_one_without_the_env_cannot_claim(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    store = Store.open(tmp_path / "symphony.db")
    tree = conductor_tree(store, node_timeout_sec=1e9)
    commands: list[tuple[str, Any]] = []
    async with trio.open_nursery() as nursery:
        await spawn(nursery, tree, name="conductor")
        registry, deployments = tree.child("registry"), tree.child("deployments")
        sessions = {}
        for node_id, group in (("plain", "gpu-1"), ("drained", "cpu-2")):
            sessions[node_id] = await spawn(nursery, NodeLink(node_id, commands))
            hello = Hello(
                protocol_version=PROTOCOL_VERSION,
                node_id=node_id,
                groups=(group,),
                capacities_total={"Analytic1": 4},
            )
            assert (
                await registry.ask(RegisterNode(sessions[node_id], hello, "t", False, 1.0)) is None
            )
        await registry.ask(SetDraining("drained", True))
        await trio.testing.wait_all_tasks_blocked()
        # Each fits its node's group and room, and waits: one needs an environment no
        # node has, the other's one node is being drained.
        needy = spec("needy", config={"command": ["true"], "env_name": "conda-x"})
        await deployments.ask(CreateDeployment(needy))
        await deployments.ask(CreateDeployment(spec("batch", node_group="cpu-2")))
        await trio.testing.wait_all_tasks_blocked()
        claims = {"needy": "plain", "batch": "drained"}
        for name, node_id in claims.items():
            record = store.get_deployment(name)
            assert record is not None
            [inst] = store.list_instances(deployment_id=record.id)
            assert inst.node_id is None, inst
            update = InstanceStatus(instance_id=inst.id, deployment_id=record.id, state="running")
            await registry.tell(NodeStatuses(node_id, sessions[node_id], (update,)))
            await trio.testing.wait_all_tasks_blocked()
            [after] = store.list_instances(deployment_id=record.id)
            assert (after.state, after.node_id) == ("pending", None), (name, after)
            stops = [(n, c.instance_id) for n, c in commands if isinstance(c, StopInstance)]
            assert (node_id, inst.id) in stops
        nursery.cancel_scope.cancel()
    store.close()


async def test_a_gangs_member_is_not_claimed_alone(autojump_clock: trio.abc.Clock) -> None:
    async with trio.open_nursery() as nursery:
        scheduler = await spawn(nursery, Scheduler())
        owner = await spawn(nursery, Recorder())
        view = NodeView(
            node_id="n1", state="ready", groups=("gpu-1",), capacities_total={"Analytic1": 4},
            resources={}, usage={}, last_heartbeat=None, connected_at=None, remote=None,
            shared_certificate=False, heartbeat_sec=1.0,
        )  # fmt: skip
        await scheduler.tell(NodeChanged(view, None, owner))
        await trio.testing.wait_all_tasks_blocked()
        member = AdoptReservation("i1", "n1", {"Analytic1": 1}, gang="rl", deployment_id="d1")
        assert await scheduler.ask(ClaimInstance(member, "gpu-1", owner)) is False
        single = AdoptReservation("i2", "n1", {"Analytic1": 1})
        assert await scheduler.ask(ClaimInstance(single, "gpu-1", owner)) is True
        nursery.cancel_scope.cancel()
