"""A node that never comes back after a Conductor restart is lost like any other.

After a restart, the instances the store places on a node are re-reserved for it before
it says hello. If it never does, it must still be declared lost at its node timeout and
its instances replaced elsewhere (before: the registry had never heard of it, so no
"lost" ever came, and the Scheduler kept the restored reservations for good).

The Conductor's actors run for real (registry, Scheduler, Deployments, SQLite store)
under a virtual clock; nodes are played by recording sessions.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import trio
import trio.testing

from symphony.actors import ActorRef, spawn
from symphony.conductor.deployments import CreateDeployment
from symphony.conductor.nodes.model import ListNodes, NodeHeartbeat, NodeStatuses
from symphony.conductor.nodes.registry import RESTART_GRACE_SEC
from symphony.conductor.store import Store
from symphony.wire import Heartbeat, InstanceStatus, StartInstance

from .test_reschedule import conductor_tree, connect_nodes, spec

TIMEOUT = 30.0
#: node-1 is lost this long after the restart (it may be backing off meanwhile).
DEADLINE = max(TIMEOUT, RESTART_GRACE_SEC)


@contextlib.asynccontextmanager
async def conductor(
    db: Path, nodes: tuple[str, ...], commands: list[tuple[str, Any]]
) -> AsyncIterator[tuple[Store, ActorRef, ActorRef, dict[str, ActorRef]]]:
    """The Conductor's actors on ``db``, with ``nodes`` connected (say hello)."""
    store = Store.open(db)
    tree = conductor_tree(store, node_timeout_sec=TIMEOUT)
    async with trio.open_nursery() as nursery:
        await spawn(nursery, tree, name="conductor")
        sessions = await connect_nodes(nursery, tree, nodes, commands)
        yield store, tree.child("deployments"), tree.child("registry"), sessions
        nursery.cancel_scope.cancel()
    store.close()


def starts(commands: list[tuple[str, Any]]) -> list[tuple[str, StartInstance]]:
    return [(n, c) for n, c in commands if isinstance(c, StartInstance)]


async def test_a_node_that_never_returns_after_a_restart_is_lost_and_replaced(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    db = tmp_path / "symphony.db"
    commands: list[tuple[str, Any]] = []
    async with conductor(db, ("node-1",), commands) as (store, deployments, registry, sessions):
        await deployments.ask(CreateDeployment(spec("web")))
        await trio.testing.wait_all_tasks_blocked()
        [(node_id, start)] = starts(commands)
        assert node_id == "node-1"
        running = InstanceStatus(
            instance_id=start.instance_id,
            deployment_id=start.deployment_id,
            state="running",
            pid=42,
        )
        await registry.tell(NodeStatuses("node-1", sessions["node-1"], (running,)))
        await trio.testing.wait_all_tasks_blocked()
        assert store.get_instance(start.instance_id).state == "running"

    # The Conductor restarts; node-1 never comes back, node-2 joins.
    commands.clear()
    async with conductor(db, ("node-2",), commands) as (store, deployments, registry, sessions):
        for seq in range(int(DEADLINE) - 1):  # node-2 is alive and well
            await trio.sleep(1)
            beat = NodeHeartbeat("node-2", sessions["node-2"], Heartbeat(seq=seq))
            await registry.tell(beat)
        assert store.get_instance(start.instance_id).state == "running"  # not before
        assert starts(commands) == []
        for seq in range(2):
            await trio.sleep(1)
            beat = NodeHeartbeat("node-2", sessions["node-2"], Heartbeat(seq=seq))
            await registry.tell(beat)
        await trio.testing.wait_all_tasks_blocked()
        assert store.get_instance(start.instance_id).state == "lost"
        [(node_id, replacement)] = starts(commands)
        assert node_id == "node-2"
        assert replacement.replica == 0 and replacement.instance_id != start.instance_id
        views = {v.node_id: v.state for v in await registry.ask(ListNodes())}
        assert views == {"node-1": "lost", "node-2": "ready"}
