"""A placement is in the store before its start reaches the node's session.

Stored after (by the instance's supervisor, when the Scheduler's news reaches it), a
Conductor killed in between forgot where the job runs, and placed it a second time
after its restart. Real Scheduler and SQLite store; the session reads the store the
moment it is asked to send the start. Virtual clock.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio
import trio.testing

from symphony.actors import Actor, spawn
from symphony.conductor.deployments import Scheduler
from symphony.conductor.deployments.instances import job_spec
from symphony.conductor.deployments.messages import PlaceInstances, PlacementRequest
from symphony.conductor.nodes.model import NodeChanged
from symphony.conductor.placement import PendingInstance
from symphony.conductor.store import InstanceRecord, Store
from symphony.spec import parse_spec
from symphony.wire import StartInstance

from .test_scheduler_props import Owner, view

SPEC = parse_spec({"name": "web", "config": {"command": ["true"]}})


class Session(Actor):
    """Stands for the node's link: what the store says of each instance it must start."""

    def __init__(self, store: Store, seen: dict[str, tuple[str, str | None]]) -> None:
        super().__init__()
        self.store = store
        self.seen = seen

    async def receive(self, message: Any) -> Any:
        for command in message if isinstance(message, list) else [message]:
            assert isinstance(command, StartInstance)
            stored = self.store.get_instance(command.instance_id)
            assert stored is not None
            self.seen[command.instance_id] = (stored.state, stored.node_id)


def requests_for(deployment_id: str, ids: list[str]) -> tuple[PlacementRequest, ...]:
    """Requests to place ``ids`` (replicas 0, 1, ...) of ``web``, one ``A`` each."""
    return tuple(
        PlacementRequest(
            pending=PendingInstance(i, deployment_id, "gpu-1", {"A": 1}),
            start=StartInstance(
                instance_id=i,
                deployment_id=deployment_id,
                deployment_name="web",
                replica=r,
                spec=job_spec(SPEC),
            ),
        )
        for r, i in enumerate(ids)
    )


async def test_scheduler_stores_a_placement_before_sending_its_start(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    store = Store.open(tmp_path / "symphony.db")
    deployment = store.create_deployment(SPEC)
    ids = [f"web-{r}" for r in range(3)]
    store.upsert_instances([InstanceRecord(i, deployment.id, r) for r, i in enumerate(ids)])
    seen: dict[str, tuple[str, str | None]] = {}
    async with trio.open_nursery() as nursery:
        scheduler = await spawn(nursery, Scheduler(journal=store))
        owner = await spawn(nursery, Owner())
        session = await spawn(nursery, Session(store, seen))
        await scheduler.tell(NodeChanged(view("n1", "gpu-1", {"A": 2}, "ready"), None, session))
        await scheduler.tell(PlaceInstances(requests_for(deployment.id, ids), owner))
        await trio.testing.wait_all_tasks_blocked()
        nursery.cancel_scope.cancel()
    # Two fit: each was assigned in the store when its start went out; the third waits.
    assert seen == {"web-0": ("assigned", "n1"), "web-1": ("assigned", "n1")}
    waiting = store.get_instance("web-2")
    assert waiting is not None and (waiting.state, waiting.node_id) == ("pending", None)
    store.close()
