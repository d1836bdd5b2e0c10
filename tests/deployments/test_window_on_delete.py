"""A link's status window is settled even for statuses a deleted deployment never read.

Statuses wait in a deployment supervisor's mailbox; a delete stops that supervisor and
drops them. They were once settled only after being applied, so each delete during
status traffic leaked its waiting count on the link: past 2,048 the node's reader
waited 10 s per read, reading no heartbeats, and the node was declared lost. The
manager now settles them once handed on. Real actors, virtual clock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
import trio.testing

from symphony.conductor.deployments import CreateDeployment, DeleteDeployment
from symphony.conductor.nodes.model import NodeStatuses
from symphony.conductor.nodes.window import StatusWindow
from symphony.conductor.store import InstanceRecord
from symphony.wire import InstanceStatus

from .test_reschedule import Cluster, running_cluster, spec

ROUNDS, PER_ROUND = 20, 50


async def send(cluster: Cluster, window: StatusWindow, inst: InstanceRecord, **kw: Any) -> None:
    """What the node's link does with a status: count it on, pass it to the registry."""
    assert inst.node_id is not None
    update = InstanceStatus(instance_id=inst.id, deployment_id=inst.deployment_id, **kw)
    window.sent(1)
    session = cluster.sessions[inst.node_id]
    await cluster.registry.tell(NodeStatuses(inst.node_id, session, (update,), window))


async def test_deletes_during_status_traffic_leave_no_count(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    window = StatusWindow()
    async with running_cluster(tmp_path / "symphony.db") as cluster:
        for r in range(ROUNDS):
            record = await cluster.deployments.ask(CreateDeployment(spec(f"d{r}")))
            await trio.testing.wait_all_tasks_blocked()
            [inst] = cluster.store.list_instances(deployment_id=record.id)
            async with trio.open_nursery() as deleting:
                deleting.start_soon(cluster.deployments.ask, DeleteDeployment(record.name))
                await trio.testing.wait_all_tasks_blocked()
                # The stop is done (the deployment goes), and the node's last words are
                # still on their way, some in the supervisor's mailbox as it is stopped.
                for _ in range(1 + PER_ROUND):
                    await send(cluster, window, inst, state="exited", final=True)
            await trio.testing.wait_all_tasks_blocked()
            assert cluster.store.get_deployment(record.name) is None
        assert window.in_flight == 0
