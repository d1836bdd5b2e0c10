"""A stored spec is parsed once while it is in use: reads share the writer's object.

The store keeps specs as JSON text and turns each row back into a spec on every read;
validation costs about 100 us a spec. Reads of a text whose spec is held somewhere (the
writer's, an earlier read's) return that object; once nothing holds it, the next read
parses again. A read larger than any bounded cache (here 5,000 deployments) shares too.
"""

from __future__ import annotations

import gc
import json
import threading
import weakref
from pathlib import Path

from symphony.conductor.store import Store
from symphony.conductor.store._specs import spec_text, stored_spec
from symphony.spec import parse_stored_spec

from .test_store import FakeClock, spec
from .test_store_group_inserts import RICH


def test_reads_share_the_spec_the_writer_holds(tmp_path: Path) -> None:
    with Store.open(tmp_path / "symphony.db", clock=FakeClock()) as store:
        written = spec("rich", **RICH)
        (record,) = store.create_deployments([written])
        assert store.get_deployment(record.id).spec is written  # type: ignore[union-attr]
        assert store.list_versions(record.id)[0].spec is written
        # What the writer holds is what parsing its text gives.
        text = spec_text(written)
        assert parse_stored_spec(json.loads(text)) == written


def test_the_table_keeps_no_spec_alive() -> None:
    text = spec_text(spec("gone", **RICH))  # the writer's spec is dropped at once
    gc.collect()
    first = stored_spec(text)  # parsed again
    assert first == parse_stored_spec(json.loads(text))
    assert stored_spec(text) is first  # held by this test now: shared
    held = weakref.ref(first)
    del first
    gc.collect()
    assert held() is None  # a deleted or replaced spec is not kept by the table


def test_a_read_of_many_deployments_shares_every_spec(tmp_path: Path) -> None:
    count = 5000  # more than the 4,096-entry LRU this replaced could keep
    with Store.open(tmp_path / "symphony.db", clock=FakeClock()) as store:
        store.create_deployments([spec(f"d{i:05d}") for i in range(count)])
        gc.collect()  # the writer's specs are gone: the first read parses
        first = {r.id: r.spec for r in store.list_deployments()}
        second = {r.id: r.spec for r in store.list_deployments()}
        assert len(first) == count
        assert all(second[i] is first[i] for i in first)


def test_a_read_on_another_thread_shares_too(tmp_path: Path) -> None:
    written = spec("threaded", **RICH)
    text = spec_text(written)
    found = []
    reader = threading.Thread(target=lambda: found.append(stored_spec(text)))
    reader.start()
    reader.join()
    assert found == [written] and found[0] is written
