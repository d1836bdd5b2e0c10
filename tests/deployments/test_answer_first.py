"""A create's asker runs before the new deployments' supervisors start.

The asker of a create is answered once the group's transaction is committed (see
``symphony/conductor/deployments/creating.py``); the supervisors that place the first
instances are started after that, within the same message. An HTTP request writes its
201 when it next runs, so it must run before that start, not somewhere in its middle
(behind a supervisor's spawn and, with a node, the placement and its save). The
Conductor's actors run for real here (registry, Scheduler, Deployments manager, SQLite
store), with two nodes played by recording sessions.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
import trio.testing

from symphony.actors import ChildSpec, Supervisor, spawn
from symphony.conductor.deployments import CreateDeployment, Deployments, EventLog, Scheduler
from symphony.conductor.deployments.messages import Created
from symphony.conductor.nodes.registry import NodeRegistry
from symphony.conductor.store import Store
from symphony.wire import StartInstance

from .test_reschedule import NODES, connect_nodes, spec


async def test_create_answered_askers_run_before_the_supervisors_start(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    managers: list[Deployments] = []

    def deployments() -> Deployments:
        manager = Deployments(
            store=store,
            scheduler=tree.child("scheduler"),
            registry=tree.child("registry"),
            events=EventLog(store),
        )
        managers.append(manager)
        return manager

    def registry() -> NodeRegistry:
        return NodeRegistry(node_timeout_sec=1e9, subscribers=(tree.child("deployments"),))

    tree = Supervisor(
        [
            ChildSpec(name="registry", factory=registry),
            ChildSpec(name="scheduler", factory=Scheduler),
            ChildSpec(name="deployments", factory=deployments),
        ],
        strategy="rest_for_one",
    )
    commands: list[tuple[str, Any]] = []
    seen: dict[str, bool] = {}  # by name: its supervisor existed when its asker ran

    async def create(name: str) -> None:
        created = await tree.child("deployments").ask(
            CreateDeployment(spec(name), with_instances=True), timeout=10
        )
        assert isinstance(created, Created)
        try:
            managers[-1].child(created.record.id)
            seen[name] = True
        except KeyError:
            seen[name] = False

    async with trio.open_nursery() as nursery:
        await spawn(nursery, tree, name="conductor")
        await connect_nodes(nursery, tree, NODES, commands)
        await trio.testing.wait_all_tasks_blocked()
        names = [f"web-{i}" for i in range(3)]
        async with trio.open_nursery() as askers:  # one group: all asked at once
            for name in names:
                askers.start_soon(create, name)
        # Failed before: each asker ran once the supervisors' start had begun.
        assert seen == dict.fromkeys(names, False)
        await trio.testing.wait_all_tasks_blocked()
        starts = [c for _, c in commands if isinstance(c, StartInstance)]
        assert len(starts) == 3  # and the supervisors did place them, right after
        nursery.cancel_scope.cancel()
    store.close()
