"""The Scheduler's note of a placement, stored before the start goes out: it changes
only an instance still pending on no node (the supervisor's own saves stand)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace

import pytest

from symphony.conductor.store import InstanceRecord, InstanceState, PlacementNote, Store
from symphony.spec import parse_spec

SPEC = parse_spec({"name": "web", "config": {"command": ["sleep", "60"]}})


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store.open_url(store_url, clock=lambda: 5.0) as s:
        yield s


def test_store_note_placements_assigns_only_what_is_still_pending(store: Store) -> None:
    deployment = store.create_deployment(SPEC)
    store.upsert_instances(
        [
            InstanceRecord("w-0", deployment.id, 0, reason="no node fits"),
            InstanceRecord("w-1", deployment.id, 1, InstanceState.STOPPING),
            InstanceRecord("w-2", deployment.id, 2, InstanceState.ASSIGNED, node_id="n2"),
        ]
    )
    notes = [
        PlacementNote("w-0", "n1", {"Analytic1": 1}, {"ports": {"http": 7000}}),
        PlacementNote("w-1", "n1", {"Analytic1": 1}),  # stopped before it was placed
        PlacementNote("w-2", "n1", {"Analytic1": 1}),  # its supervisor saved it first
        PlacementNote("w-9", "n1", {}),  # not stored (yet): nothing to change
    ]
    assert store.note_placements(notes) == 1
    placed = store.get_instance("w-0")
    assert placed is not None
    assert (placed.state, placed.node_id, placed.reason) == (InstanceState.ASSIGNED, "n1", None)
    assert placed.reservation == {"Analytic1": 1}
    assert placed.network == {"ports": {"http": 7000}}
    assert placed.updated_at == 5.0
    stopping, other = store.get_instance("w-1"), store.get_instance("w-2")
    assert stopping is not None and (stopping.state, stopping.node_id) == ("stopping", None)
    assert other is not None and other.node_id == "n2"
    assert store.note_placements([]) == 0


def test_store_a_pending_save_after_the_note_keeps_the_instance_on_its_node(store: Store) -> None:
    # The supervisor saves its in-memory record, still pending on no node, before the
    # Scheduler's Placed reaches it (a reason, a spec change carrying it): the stored
    # placement stands, else a Conductor killed now would place the instance again.
    deployment = store.create_deployment(SPEC)
    pending = InstanceRecord("w-0", deployment.id, 0, reason="waiting for a node")
    store.upsert_instances([pending])
    store.note_placements([PlacementNote("w-0", "n1", {"Analytic1": 1}, {"ports": {"a": 1}})])
    store.upsert_instances([replace(pending, reason="no node fits", generation=2)])
    kept = store.get_instance("w-0")
    assert kept is not None
    assert (kept.state, kept.node_id, kept.reason) == (InstanceState.ASSIGNED, "n1", None)
    assert kept.reservation == {"Analytic1": 1}
    assert kept.network == {"ports": {"a": 1}}
    assert kept.generation == 2  # the rest of the save stands


def test_store_a_stop_after_the_note_still_stops_the_instance(store: Store) -> None:
    # Stopped (withdrawn) while it was being placed: the supervisor's save of it
    # stopping, then ended, is not turned back into a placement.
    deployment = store.create_deployment(SPEC)
    pending = InstanceRecord("w-0", deployment.id, 0)
    store.upsert_instances([pending])
    store.note_placements([PlacementNote("w-0", "n1", {"Analytic1": 1})])
    stopping = replace(pending, state=InstanceState.STOPPING, reason="scaled down")
    store.upsert_instances([stopping])
    row = store.get_instance("w-0")
    assert row is not None and (row.state, row.node_id) == (InstanceState.STOPPING, None)
    store.upsert_instances([replace(stopping, state=InstanceState.STOPPED)])
    row = store.get_instance("w-0")
    assert row is not None and (row.state, row.node_id) == (InstanceState.STOPPED, None)


def test_store_a_group_insert_keeps_the_note_too(store: Store) -> None:
    # Many instances at once take the multi-row INSERT: the same rule holds there.
    deployment = store.create_deployment(SPEC)
    pending = [InstanceRecord(f"w-{n}", deployment.id, n) for n in range(3)]
    store.upsert_instances(pending)
    store.note_placements([PlacementNote("w-1", "n1", {"Analytic1": 1})])
    store.upsert_instances([replace(p, reason="no node fits") for p in pending])
    rows = [store.get_instance(p.id) for p in pending]
    assert [(r.state, r.node_id) for r in rows if r is not None] == [
        ("pending", None),
        ("assigned", "n1"),
        ("pending", None),
    ]
