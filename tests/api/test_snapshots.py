"""Shared reads of the whole store: one read for concurrent callers, in a worker thread."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

import trio

from symphony.conductor.api import SnapshotCache
from symphony.conductor.api.paging import ListFilter, cursor_of
from symphony.conductor.api.rowview import DEPLOYMENT_COLUMNS, INSTANCE_COLUMNS, row_of
from symphony.conductor.api.snapshots import Snapshot, summary_of
from symphony.conductor.api.sse import sse
from symphony.conductor.api.views import deployment_json, with_usage
from symphony.conductor.store import InstanceRecord, Store, StoreReader
from symphony.spec import parse_spec


def spec(name: str):
    return parse_spec({"name": name, "config": {"command": ["x"]}})


def test_store_reader_reads_everything_in_one_read_only_connection(tmp_path: Path) -> None:
    with Store.open(tmp_path / "db") as store:
        record = store.create_deployment(spec("web"))
        store.upsert_instance(InstanceRecord("i1", record.id, 0))
        reader = StoreReader.open(store.path)
        try:
            records, instances = reader.read_all()
            assert [r.name for r in records] == ["web"] and [i.id for i in instances] == ["i1"]
            try:
                reader.create_deployment(spec("nope"))
            except Exception as exc:  # sqlite3.OperationalError: readonly database
                assert "readonly" in str(exc)
            else:
                raise AssertionError("a reader must not write")
        finally:
            reader.close()


async def test_concurrent_callers_share_one_read_made_in_a_worker_thread(tmp_path: Path) -> None:
    with Store.open(tmp_path / "db") as store:
        for n in range(50):
            record = store.create_deployment(spec(f"web-{n}"))
            store.upsert_instance(InstanceRecord(f"i{n}", record.id, 0))
        cache = SnapshotCache(store, off_thread=True)
        got = []

        async def caller() -> None:
            got.append(await cache.current())

        async with trio.open_nursery() as nursery:
            for _ in range(20):
                nursery.start_soon(caller)
        assert cache.reads == 1 and len({id(s) for s in got}) == 1
        assert len(got[0].records) == 50 and len(got[0].instances(got[0].records[0].id)) == 1

        # The listing is joined in a worker thread from each deployment's text, which is
        # encoded once and shared by every listing after.
        threads: list[int] = []
        original = got[0].listing

        def listing(*args: Any, **kwargs: Any) -> bytes:
            threads.append(threading.get_ident())
            return original(*args, **kwargs)

        got[0].listing = listing  # type: ignore[method-assign]
        body = await cache.listing()
        assert body.startswith(b'{"deployments":[') and threads != [threading.get_ident()]
        text = got[0].encoded(got[0].records[0])
        assert json.loads(body)["deployments"][0] == json.loads(text)
        assert await cache.listing() == body and cache.reads == 1
        assert got[0].encoded(got[0].records[0]) is text


async def test_a_listing_shows_every_write_made_before_it(tmp_path: Path) -> None:
    with Store.open(tmp_path / "db") as store:
        cache = SnapshotCache(store, off_thread=True)
        assert (await cache.current()).records == []
        store.create_deployment(spec("web"))
        # current(): the new deployment, read again; recent(): the old read will do.
        assert [r.name for r in (await cache.current()).records] == ["web"]
        assert cache.reads == 2
        store.create_deployment(spec("db"))
        assert len((await cache.recent(max_age=60)).records) == 1
        assert await cache.current() is await cache.recent(max_age=0)
        assert cache.reads == 3


def _dumps(value: Any) -> bytes:
    return json.dumps(value, separators=(",", ":")).encode()


async def test_listings_are_the_bytes_of_encoding_their_views_at_once(tmp_path: Path) -> None:
    """Joined from each deployment's kept text, a listing is byte for byte what encoding
    the whole answer at once gives: with figures, a page's cursor, summaries or rows."""
    with Store.open(tmp_path / "db") as store:
        for n in range(5):
            record = store.create_deployment(spec(f"web-{n}"))
            store.upsert_instance(InstanceRecord(f"i{n}", record.id, 0))
        snapshot = await SnapshotCache(store).current()
        records = snapshot.records
        views = [snapshot.deployment_json(r) for r in records]
        usage = {"i1": {"cpu_percent": 5.5, "rss_bytes": 4096.0}}
        measured = [with_usage(v, usage) if n == 1 else v for n, v in enumerate(views)]
        for _ in range(2):  # encoded, then joined from the kept texts
            assert snapshot.listing() == _dumps({"deployments": views})
            assert snapshot.listing(usage) == _dumps({"deployments": measured})
            assert snapshot.listing(view="summary") == _dumps(
                {"deployments": [summary_of(v) for v in views]}
            )
            columns = {"columns": DEPLOYMENT_COLUMNS, "instance_columns": INSTANCE_COLUMNS}
            rows = [row_of(v) for v in measured]
            assert snapshot.listing(usage, view="rows") == _dumps({**columns, "deployments": rows})
            rows_page = snapshot.page(ListFilter(), limit=2, usage=usage, view="rows")
            assert rows_page == _dumps(
                {**columns, "deployments": rows[:2], "next_cursor": cursor_of(records[1])}
            )
            page = snapshot.page(ListFilter(), limit=2, usage=usage)
            cursor = cursor_of(records[1])
            assert page == _dumps({"deployments": measured[:2], "next_cursor": cursor})
            last = snapshot.page(ListFilter(), after=(records[3].created_at, records[3].id))
            assert last == _dumps({"deployments": views[4:], "next_cursor": None})
            assert snapshot.deployments_array() == _dumps(views)
            summaries = [summary_of(v) for v in views]
            assert snapshot.deployments_array("summary") == _dumps(summaries)
            for record, view, summary in zip(records, views, summaries, strict=True):
                assert snapshot.deployment_sse(record) == sse("deployment", {"deployment": view})
                assert snapshot.deployment_sse(record, "summary") == sse(
                    "deployment", {"deployment": summary}
                )
        assert "spec" in views[0] and "spec" not in summary_of(views[0])


async def test_summaries_made_without_the_spec_are_the_summaries_of_the_full_views(
    tmp_path: Path,
) -> None:
    """A summary or row is made without its spec unless the full view exists already;
    either way the bytes are those of the full view less its spec."""
    with Store.open(tmp_path / "db") as store:
        for n in range(3):
            record = store.create_deployment(spec(f"web-{n}"))
            store.upsert_instance(InstanceRecord(f"i{n}", record.id, 0))
        records, instances = store.list_deployments(), store.list_instances()
        fresh = Snapshot(records, instances, version=store.commits, taken_at=0.0)
        summary, rows = fresh.listing(view="summary"), fresh.listing(view="rows")
        assert not fresh._json  # no full view was made for them
        full = Snapshot(records, instances, version=store.commits, taken_at=0.0)
        views = [full.deployment_json(r) for r in records]
        assert (
            summary
            == full.listing(view="summary")
            == _dumps({"deployments": [summary_of(v) for v in views]})
        )
        assert rows == full.listing(view="rows")
        for record, view in zip(records, views, strict=True):
            made = deployment_json(record, full.instances(record.id), with_spec=False)
            assert made == summary_of(view) and list(made) == list(summary_of(view))


async def test_live_messages_reuse_the_texts_a_listing_in_their_view_made(tmp_path: Path) -> None:
    """The /live feed's array and messages in a view are made of the listing's kept
    texts: a deployment's summary is encoded once for listings and every stream."""
    with Store.open(tmp_path / "db") as store:
        for n in range(3):
            store.create_deployment(spec(f"web-{n}"))
        cache = SnapshotCache(store)
        snapshot = await cache.current()
        assert snapshot.listing(view="summary")
        kept = [snapshot.encoded(r, "summary") for r in snapshot.records]
        array = await cache.deployments_array(snapshot, "summary")
        assert array == b"[" + b",".join(kept) + b"]"
        message = snapshot.deployment_sse(snapshot.records[0], "summary")
        assert kept[0] in message and b'"spec"' not in message
        again = [snapshot.encoded(r, "summary") for r in snapshot.records]
        assert all(a is k for a, k in zip(again, kept, strict=True))  # kept, not re-encoded
        read = cache.deployment(snapshot.records[1].id)
        assert read.message("summary") == sse("deployment", {"deployment": json.loads(kept[1])})
        assert read.message() == snapshot.deployment_sse(snapshot.records[1])
