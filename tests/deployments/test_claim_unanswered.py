"""A claim the Scheduler does not answer in time leaves the deployment's supervisor up.

A node reporting an instance recorded on no node makes the supervisor ask the Scheduler
(``claims.py``). That ask once let AskTimeout escape and crashed the supervisor (the
old code told). Now the claim simply is not decided: no stop is sent, and the node's
next report asks again. Real actors, virtual clock; the Scheduler is the real one, made
slow to answer claims for a while.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from symphony.actors import AskTimeout, spawn
from symphony.conductor.deployments import CreateDeployment, Scheduler
from symphony.conductor.deployments.messages import (
    AdoptReservation,
    CapacityUsage,
    ClaimInstance,
)
from symphony.conductor.nodes.model import NodeStatuses
from symphony.conductor.store import Store
from symphony.wire import InstanceStatus, StopInstance

from .test_reschedule import NODES, conductor_tree, connect_nodes, spec


class SlowClaims(Scheduler):
    """The real Scheduler, answering claims only after ``delay`` seconds."""

    delay = 0.0
    claims = 0

    async def receive(self, message: Any) -> Any:
        if isinstance(message, ClaimInstance):
            SlowClaims.claims += 1
            await trio.sleep(SlowClaims.delay)
        return await super().receive(message)


async def test_an_unanswered_claim_neither_crashes_nor_stops(
    tmp_path: Path, autojump_clock: trio.abc.Clock, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    store = Store.open(tmp_path / "symphony.db")
    tree = conductor_tree(store, node_timeout_sec=1e9, scheduler=SlowClaims)
    commands: list[tuple[str, Any]] = []
    async with trio.open_nursery() as nursery:
        await spawn(nursery, tree, name="conductor")
        sessions = await connect_nodes(nursery, tree, NODES, commands)
        # No node has room for them: they stay pending, recorded on no node.
        big = spec("big", capacity_requests={"Analytic1": 99}, replicas=3)
        await tree.child("deployments").ask(CreateDeployment(big))
        await trio.testing.wait_all_tasks_blocked()
        pending = store.list_instances()
        updates = tuple(
            InstanceStatus(instance_id=p.id, deployment_id=p.deployment_id, state="running")
            for p in pending
        )
        assert len(updates) == 3

        async def report() -> None:
            statuses = NodeStatuses("node-1", sessions["node-1"], updates)
            await tree.child("registry").tell(statuses)
            await trio.testing.wait_all_tasks_blocked()

        SlowClaims.delay = 60.0
        await report()
        await trio.sleep(61.0)
        await trio.testing.wait_all_tasks_blocked()
        assert SlowClaims.claims == 1  # the report's other claims wait for the next one
        assert not [c for _, c in commands if isinstance(c, StopInstance)]
        crashes = [r.getMessage() for r in caplog.records if "crash" in r.getMessage().lower()]
        assert not crashes, crashes
        # Answered in time, the next report has its claims decided (no room: stopped).
        SlowClaims.delay = 0.0
        await report()
        stops = [(n, c.instance_id) for n, c in commands if isinstance(c, StopInstance)]
        assert sorted(stops) == sorted(("node-1", p.id) for p in pending)
        nursery.cancel_scope.cancel()
    store.close()


async def test_a_claim_handled_after_its_asker_gave_up_reserves_nothing(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    """An ask that timed out stays in the Scheduler's mailbox; handled late, a claim that
    would have been granted (a ready node with room) must change nothing, since its
    supervisor took it as undecided."""
    store = Store.open(tmp_path / "symphony.db")
    tree = conductor_tree(store, node_timeout_sec=1e9, scheduler=SlowClaims)
    async with trio.open_nursery() as nursery:
        await spawn(nursery, tree, name="conductor")
        await connect_nodes(nursery, tree, NODES, [])
        scheduler = tree.child("scheduler")
        item = AdoptReservation("web-0-abc123", "node-1", {"Analytic1": 1})
        owner = tree.child("deployments")
        SlowClaims.delay = 60.0
        with pytest.raises(AskTimeout):
            deadline = trio.current_time() + 5.0
            await scheduler.ask(ClaimInstance(item, None, owner, deadline=deadline), timeout=5.0)
        await trio.sleep(61.0)  # the Scheduler handles it now, after the asker gave up
        SlowClaims.delay = 0.0
        usage = await scheduler.ask(CapacityUsage())
        assert usage["node-1"].get("Analytic1", 0) == 0, usage
        # In time, the same claim is granted and reserved.
        deadline = trio.current_time() + 5.0
        claim = ClaimInstance(item, None, owner, deadline=deadline)
        assert await scheduler.ask(claim, timeout=5.0) is True
        assert (await scheduler.ask(CapacityUsage()))["node-1"]["Analytic1"] == 1
        nursery.cancel_scope.cancel()
    store.close()
