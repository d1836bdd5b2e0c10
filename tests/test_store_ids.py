"""Deployment ids ordered by time: a group of creates touches few pages of each index.

A deployment's id keys its row, its versions, its instances (by deployment) and its
events (by deployment). Random ids sent each row of a group to a page of its own in
each of those indexes, and a commit writes every page it touched; ids that begin with
the second they were made in keep a group's rows together (``ordered_id``).
"""

from __future__ import annotations

import itertools
import re
from pathlib import Path

from symphony.conductor.deployments.creating import FirstInstances, created_event
from symphony.conductor.store import Store
from symphony.conductor.store._records import ordered_id
from symphony.spec import parse_spec


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def _spec(name: str) -> object:
    return parse_spec(
        {"name": name, "node_group": "gpu-1", "config": {"command": ["python3", "main.py"]}}
    )


def test_store_ordered_ids_keep_the_form_sort_by_second_and_never_repeat() -> None:
    ids = [ordered_id("d", 1_800_000_000.5 + i // 1000) for i in range(5000)]
    assert all(re.fullmatch(r"d_[0-9a-f]{16}", i) for i in ids)
    assert len(set(ids)) == len(ids)
    assert [i[:10] for i in ids] == sorted(i[:10] for i in ids)
    assert ids[0][2:10] == f"{1_800_000_000:08x}"
    # Consecutive ids of one second do not look consecutive.
    lows = [int(i[10:], 16) for i in ids[:100]]
    assert sum(abs(b - a) == 1 for a, b in itertools.pairwise(lows)) == 0


def _pages_of_a_group_after(tmp_path: Path, seconds_apart: float) -> int:
    """The pages one group of 8 creates writes after 300 groups (2,400 deployments)
    stored ``seconds_apart``."""
    clock = FakeClock()
    with Store.open(tmp_path / "symphony.db", clock=clock) as store:
        for group in range(300):
            specs = [_spec(f"web-{group}-{i}") for i in range(8)]
            store.create_deployments_noted(specs, created_event, FirstInstances())
            clock.now += seconds_apart
        raw = store._conn.raw  # type: ignore[attr-defined]
        raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        specs = [_spec(f"last-{i}") for i in range(8)]
        store.create_deployments_noted(specs, created_event, FirstInstances())
        _, frames, _ = raw.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
    return int(frames)


def test_store_a_group_of_creates_writes_few_pages(tmp_path: Path) -> None:
    frames = _pages_of_a_group_after(tmp_path, 1.0)  # a table of some size
    # Random ids: 48 pages for these 8 deployments (a page per row in each index
    # keyed by the deployment id); ordered: 20.
    assert frames <= 30, frames


def test_store_groups_of_one_busy_second_write_few_pages(tmp_path: Path) -> None:
    """At a thousand creates a second, the groups of one second land after every id
    stored before them, not all over that second's ids: each index keyed by the
    deployment id is written at its end."""
    frames = _pages_of_a_group_after(tmp_path, 0.008)  # 8 every 8 ms: within 3 seconds
    # With only the second in front: 38 pages; with its 4096th too: 22.
    assert frames <= 28, frames


def test_store_ordered_ids_sort_by_their_part_of_the_second() -> None:
    ids = [ordered_id("d", 1_800_000_000 + i / 1000) for i in range(3000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
