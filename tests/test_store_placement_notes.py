"""The Scheduler's note of a placement, stored before the start goes out: it changes
only an instance still pending on no node (the supervisor's own saves stand)."""

from __future__ import annotations

from collections.abc import Iterator

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
