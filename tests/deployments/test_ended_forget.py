"""The Conductor lets a node forget an instance that ended there, once the end is saved.

A node keeps an instance that ended for good until the Conductor has its end (see
``symphony/node/process/ended.py``); the Conductor says so with a stop of it: once,
when the final update is saved, and again for every hello that still lists it (the
stop was lost with the link, or the agent restarted and adopted it first). Never for
an end that is not final (a restart follows), never for a stop's own confirmation.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
import trio.testing

from symphony.actors import spawn
from symphony.conductor.deployments import CreateDeployment, DeleteDeployment
from symphony.conductor.deployments.commands import COMMAND_BATCH
from symphony.conductor.nodes.model import RegisterNode, SessionEnded
from symphony.wire import PROTOCOL_VERSION, Hello, InstanceStatus, StopInstance

from .test_reschedule import Cluster, NodeLink, running_cluster, spec


def forgets(cluster: Cluster) -> list[tuple[str, str]]:
    return [
        (node, c.instance_id)
        for node, c in cluster.commands
        if isinstance(c, StopInstance) and c.reason and c.reason.startswith("ended")
    ]


async def say_hello(
    cluster: Cluster,
    nursery: trio.Nursery,
    node_id: str,
    *listed: InstanceStatus,
    link: NodeLink | None = None,
) -> None:
    """``node_id`` connects again (a new ``link``) with a hello listing ``listed``."""
    await cluster.registry.tell(SessionEnded(node_id, cluster.sessions[node_id], "link lost"))
    await trio.testing.wait_all_tasks_blocked()
    link = link or NodeLink(node_id, cluster.commands)
    session = cluster.sessions[node_id] = await spawn(nursery, link)
    message = Hello(
        protocol_version=PROTOCOL_VERSION,
        node_id=node_id,
        groups=("gpu-1",),
        capacities_total={"Analytic1": 4},
        instances=listed,
    )
    assert await cluster.registry.ask(RegisterNode(session, message, "test", False, 1.0)) is None
    await trio.testing.wait_all_tasks_blocked()


async def test_the_conductor_lets_a_node_forget_what_ended_there(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    async with running_cluster(tmp_path / "db") as cluster, trio.open_nursery() as nursery:
        never: Any = {"type": "never"}
        await cluster.deployments.ask(CreateDeployment(spec("once", restart_policy=never)))
        await trio.testing.wait_all_tasks_blocked()
        [(node, start)] = cluster.starts()
        await cluster.report(node, start, "running", pid=5)
        await cluster.report(node, start, "exited", exit_code=1, final=False)  # restarting
        assert forgets(cluster) == []
        await cluster.report(node, start, "exited", exit_code=0, final=True)
        assert cluster.view("once")["instances"][0]["state"] == "exited"
        assert forgets(cluster) == [(node, start.instance_id)]
        # The same update again, outside a hello (the history a link sends after one).
        await cluster.report(node, start, "exited", exit_code=0, final=True)
        assert forgets(cluster) == [(node, start.instance_id)]
        # A hello that still lists it: told again.
        ended = InstanceStatus(
            instance_id=start.instance_id,
            deployment_id=start.deployment_id,
            state="exited",
            exit_code=0,
            final=True,
        )
        await say_hello(cluster, nursery, node, ended)
        assert forgets(cluster) == [(node, start.instance_id)] * 2
        # Deleted meanwhile: a hello listing it has it forgotten all the same.
        await cluster.deployments.ask(DeleteDeployment("once"))
        await trio.testing.wait_all_tasks_blocked()
        await say_hello(cluster, nursery, node, ended)
        assert forgets(cluster) == [(node, start.instance_id)] * 3
        nursery.cancel_scope.cancel()


async def test_a_stop_confirmed_is_not_followed_by_a_forget(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    async with running_cluster(tmp_path / "db") as cluster:
        await cluster.deployments.ask(CreateDeployment(spec("web")))
        await trio.testing.wait_all_tasks_blocked()
        [(node, start)] = cluster.starts()
        await cluster.report(node, start, "running", pid=5)
        await cluster.report(node, start, "stopped", final=True)  # the node forgot it itself
        states = {i["id"]: i["state"] for i in cluster.view("web")["instances"]}
        assert states[start.instance_id] == "stopped"
        assert forgets(cluster) == []


class FrameLink(NodeLink):
    """As :class:`NodeLink`, and keeps how many commands each message carried."""

    def __init__(self, node_id: str, log: list[tuple[str, Any]]) -> None:
        super().__init__(node_id, log)
        self.frames: list[int] = []

    async def receive(self, message: Any) -> Any:
        self.frames.append(len(message) if isinstance(message, list) else 1)
        await super().receive(message)


async def test_many_ended_instances_of_a_deleted_deployment_are_forgotten_in_frames(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    """A node keeps up to 1,000 ended instances; a hello listing many of a deployment
    deleted meanwhile gets their forgets in frames of at most COMMAND_BATCH."""
    async with running_cluster(tmp_path / "db") as cluster, trio.open_nursery() as nursery:
        await cluster.deployments.ask(CreateDeployment(spec("web")))
        await trio.testing.wait_all_tasks_blocked()
        [(node, _start)] = cluster.starts()
        listed = [
            InstanceStatus(
                instance_id=f"gone-{i}-abcdef",
                deployment_id="dep-deleted-long-ago",
                state="exited",
                exit_code=0,
                final=True,
            )
            for i in range(450)
        ]
        link = FrameLink(node, cluster.commands)
        await say_hello(cluster, nursery, node, *listed, link=link)
        assert {i for n, i in forgets(cluster) if n == node} >= {s.instance_id for s in listed}
        assert link.frames and max(link.frames) <= COMMAND_BATCH, link.frames
        nursery.cancel_scope.cancel()
