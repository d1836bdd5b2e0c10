"""A store error while the Scheduler stores a plan's placements sends nothing and
crashes nothing: the plan's reservations are released, its requests stay queued, and
the Scheduler plans them again after a short backoff.

A crash would restart, under the tree's ``rest_for_one``, everything after the
Scheduler (every node's link among them) on a database blip. Real Scheduler and SQLite
store, locked by a second connection holding ``BEGIN IMMEDIATE``; virtual clock.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import trio
import trio.testing

from symphony.actors import spawn
from symphony.conductor.deployments import Scheduler
from symphony.conductor.deployments.messages import CapacityUsage, PlaceInstances
from symphony.conductor.nodes.model import NodeChanged
from symphony.conductor.store import Fenced, InstanceRecord, Store

from .test_placement_stored_first import SPEC, Session, requests_for
from .test_scheduler_props import Owner, view


async def test_scheduler_survives_a_locked_store_and_places_once_it_is_free(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    path = tmp_path / "symphony.db"
    store = Store.open(path, busy_timeout_ms=0)  # a locked database fails at once
    deployment = store.create_deployment(SPEC)
    ids = ["web-0", "web-1"]
    store.upsert_instances([InstanceRecord(i, deployment.id, r) for r, i in enumerate(ids)])
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # an operator's shell, say, holding the write lock
    seen: dict[str, tuple[str, str | None]] = {}
    async with trio.open_nursery() as nursery:
        scheduler = await spawn(nursery, Scheduler(journal=store))
        heard = Owner()
        owner = await spawn(nursery, heard)
        session = await spawn(nursery, Session(store, seen))
        await scheduler.tell(NodeChanged(view("n1", "gpu-1", {"A": 2}, "ready"), None, session))
        await scheduler.tell(PlaceInstances(requests_for(deployment.id, ids), owner))
        await trio.sleep(3)  # a few retries, all failing
        assert seen == {} and heard.placed == {}  # nothing went out unstored
        assert await scheduler.ask(CapacityUsage()) == {"n1": {}}  # nor stays reserved
        other.execute("COMMIT")
        await trio.sleep(30)  # the next retry, the backoff at its longest
        assert seen == {"web-0": ("assigned", "n1"), "web-1": ("assigned", "n1")}
        assert heard.placed == {"web-0": "n1", "web-1": "n1"}
        assert await scheduler.ask(CapacityUsage()) == {"n1": {"A": 2}}
        nursery.cancel_scope.cancel()
    other.close()
    store.close()


async def test_scheduler_fenced_in_its_note_crashes_and_sends_nothing(
    tmp_path: Path, autojump_clock: trio.abc.Clock
) -> None:
    # A deposed leader (another Conductor holds the lease) must stop placing at once.
    store = Store.open(tmp_path / "symphony.db")
    deployment = store.create_deployment(SPEC)
    store.upsert_instances([InstanceRecord("web-0", deployment.id, 0)])
    store.fence_writes("conductor", "standby")  # no lease held: every write is refused
    seen: dict[str, tuple[str, str | None]] = {}
    with pytest.RaisesGroup(Fenced, flatten_subgroups=True):
        async with trio.open_nursery() as nursery:
            scheduler = await spawn(nursery, Scheduler(journal=store))
            owner = await spawn(nursery, Owner())
            session = await spawn(nursery, Session(store, seen))
            await scheduler.tell(NodeChanged(view("n1", "gpu-1", {"A": 2}, "ready"), None, session))
            await scheduler.tell(PlaceInstances(requests_for(deployment.id, ["web-0"]), owner))
            await trio.sleep(3)
    assert seen == {}
    store.close()
