"""A supervisor rebuilt from the store between a stored change and its handling does
what handling the change would have done: it keeps the instances a change carries over
(a settings-only change), and replaces those a start replaces (``symphony restart``
all at once: a stop, then a start).

The manager stores a change before it tells the deployment's supervisor; a Conductor
stopped in between (or a supervisor crashed and restarted from the store) leaves the
change unhandled, and the supervisor started again reads it back. Here the change is
stored while no Conductor runs, as the manager stores it, and the Conductor's actors
are then started on that store for real (registry, Scheduler, Deployments, SQLite)
under a virtual clock; the node is played by a recording session whose hello says
what it still runs.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import trio
import trio.testing

from symphony.actors import ActorRef, spawn
from symphony.conductor.deployments import CreateDeployment, UpdateDeployment
from symphony.conductor.nodes.model import NodeStatuses
from symphony.conductor.store import Store
from symphony.wire import InstanceStatus, StartInstance, StopInstance

from .test_reschedule import Cluster, cluster, conductor_tree, connect_nodes, spec
from .test_stuck_supervisor import Crash
from .test_undrain_bounded import Pause, _supervisor, pausable

__all__ = ["cluster", "pausable"]

NODE = "node-1"


@contextlib.asynccontextmanager
async def conductor(
    db: Path, commands: list[tuple[str, Any]], runs: tuple[InstanceStatus, ...] = ()
) -> AsyncIterator[tuple[Store, ActorRef, ActorRef, ActorRef]]:
    """The Conductor's actors on ``db``, started and settled, then node-1 says hello
    with ``runs``: (store, deployments, registry, node-1's session)."""
    store = Store.open(db)
    tree = conductor_tree(store, node_timeout_sec=30)
    async with trio.open_nursery() as nursery:
        await spawn(nursery, tree, name="conductor")
        await trio.testing.wait_all_tasks_blocked()  # the supervisors started
        session = (await connect_nodes(nursery, tree, (NODE,), commands, runs))[NODE]
        registry = tree.child("registry")
        await trio.testing.wait_all_tasks_blocked()
        yield store, tree.child("deployments"), registry, session
        nursery.cancel_scope.cancel()
    store.close()


async def running_job(db: Path) -> InstanceStatus:
    """Create deployment ``web`` (one replica), see it run on node-1, stop the Conductor;
    what node-1 reports of it."""
    commands: list[tuple[str, Any]] = []
    async with conductor(db, commands) as (store, deployments, registry, session):
        await deployments.ask(CreateDeployment(spec("web", config={"command": ["sleep", "1"]})))
        await trio.testing.wait_all_tasks_blocked()
        [start] = [c for _, c in commands if isinstance(c, StartInstance)]
        status = InstanceStatus(
            instance_id=start.instance_id,
            deployment_id=start.deployment_id,
            state="running",
            pid=42,
        )
        await registry.tell(NodeStatuses(NODE, session, (status,)))
        await trio.testing.wait_all_tasks_blocked()
        instance = store.get_instance(start.instance_id)
        assert instance is not None and instance.state == "running"
    return status


def store_changes(db: Path, *patches: dict[str, Any]) -> None:
    """Store ``patches`` of ``web`` one after the other, as the manager stores a change
    before it tells the supervisor (which, here, never hears of them)."""
    store = Store.open(db)
    try:
        for patch in patches:
            record = store.get_deployment("web")
            assert record is not None
            store.update_deployment(record.id, record.spec.patched(patch))
    finally:
        store.close()


async def test_a_settings_change_stored_before_a_restart_keeps_the_running_instance(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    db = tmp_path / "symphony.db"
    status = await running_job(db)
    store_changes(db, {"replicas": 2})  # no new version: the instance runs it already

    commands: list[tuple[str, Any]] = []
    async with conductor(db, commands, (status,)) as (store, *_):
        stops = [c for _, c in commands if isinstance(c, StopInstance)]
        assert stops == []  # not restarted for nothing
        kept = store.get_instance(status.instance_id)
        record = store.get_deployment("web")
        assert kept is not None and record is not None
        assert (kept.state, kept.generation) == ("running", record.generation)
        starts = [c for _, c in commands if isinstance(c, StartInstance)]
        assert [s.replica for s in starts] == [1]  # only the replica added


async def test_a_stop_and_start_stored_before_a_restart_gives_a_fresh_instance(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    # A stop and a start (two PATCHes), both stored before the supervisor read them. The
    # instance running when they were asked must not be carried over.
    db = tmp_path / "symphony.db"
    status = await running_job(db)
    store_changes(db, {"desired_state": "stopped"}, {"desired_state": "running"})

    commands: list[tuple[str, Any]] = []
    async with conductor(db, commands, (status,)) as (store, _, registry, session):
        stops = [c for _, c in commands if isinstance(c, StopInstance)]
        assert [s.instance_id for s in stops] == [status.instance_id]
        old = store.get_instance(status.instance_id)
        assert old is not None and old.state == "stopping"
        # Its replacement starts once the old one is stopped, never beside it.
        assert [c for _, c in commands if isinstance(c, StartInstance)] == []
        stopped = InstanceStatus(
            instance_id=status.instance_id,
            deployment_id=status.deployment_id,
            state="stopped",
            final=True,
        )
        await registry.tell(NodeStatuses(NODE, session, (stopped,)))
        await trio.testing.wait_all_tasks_blocked()
        starts = [c for _, c in commands if isinstance(c, StartInstance)]
        assert [s.replica for s in starts] == [0]
        assert starts[0].instance_id != status.instance_id


# ---- the supervisor alone crashes, and its parent restarts it from the store ----------


async def crashed_under(cluster: Cluster, *patches: dict[str, Any]) -> StartInstance:
    """``web`` runs one instance; its supervisor crashes while the manager stores (and
    tells it) ``patches``; it is restarted from the store. The first instance's start."""
    await cluster.deployments.ask(CreateDeployment(spec("web", config={"command": ["sleep"]})))
    await trio.testing.wait_all_tasks_blocked()
    [(node, start)] = cluster.starts()
    await cluster.report(node, start, "running", pid=10)
    web = _supervisor("web")
    await web.tell(Pause(10))
    await web.tell(Crash())
    for patch in patches:  # stored, and told behind the crash
        await cluster.deployments.ask(UpdateDeployment("web", patch))
    await trio.sleep(60)
    await trio.testing.wait_all_tasks_blocked()
    assert _supervisor("web") is not web  # restarted, and read the changes
    return start


async def test_a_supervisor_restarted_under_a_settings_change_keeps_the_instance(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    first = await crashed_under(cluster, {"replicas": 2})
    assert [c for _, c in cluster.commands if isinstance(c, StopInstance)] == []
    assert [s.replica for _, s in cluster.starts()] == [0, 1]
    kept = cluster.store.get_instance(first.instance_id)
    assert kept is not None and kept.state == "running"


async def test_a_supervisor_restarted_under_a_stop_and_start_replaces_the_instance(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    first = await crashed_under(cluster, {"desired_state": "stopped"}, {"desired_state": "running"})
    stops = [c for _, c in cluster.commands if isinstance(c, StopInstance)]
    assert [s.instance_id for s in stops] == [first.instance_id]
    [(node, _)] = cluster.starts()  # the first one's: the new one waits for its stop
    await cluster.report(node, first, "stopped", final=True)
    fresh = [s for _, s in cluster.starts() if s.instance_id != first.instance_id]
    assert [s.replica for s in fresh] == [0]


# ---- told one after the other: the same rule --------------------------------------------


async def test_a_told_stop_and_start_replaces_an_instance_that_exits_as_it_stops(
    cluster: Cluster, autojump_clock: trio.abc.Clock
) -> None:
    """The start was handled while the old instance still stopped; that instance then
    ended with exit code 0 (it finished as the stop came). It used to be carried over
    into the started generation, where a job that exited 0 is done: the deployment
    said running with nothing running and nothing to come."""
    await cluster.deployments.ask(CreateDeployment(spec("web", config={"command": ["sleep"]})))
    await trio.testing.wait_all_tasks_blocked()
    [(node, first)] = cluster.starts()
    await cluster.report(node, first, "running", pid=10)
    for patch in ({"desired_state": "stopped"}, {"desired_state": "running"}):
        await cluster.deployments.ask(UpdateDeployment("web", patch))
        await trio.testing.wait_all_tasks_blocked()
    assert [c.instance_id for _, c in cluster.commands if isinstance(c, StopInstance)] == [
        first.instance_id
    ]
    assert len(cluster.starts()) == 1  # the new one waits for the old one's stop
    await cluster.report(node, first, "exited", exit_code=0, final=True)
    fresh = [s for _, s in cluster.starts() if s.instance_id != first.instance_id]
    assert [s.replica for s in fresh] == [0]
