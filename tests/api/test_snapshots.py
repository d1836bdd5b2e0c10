"""Shared reads of the whole store: one read for concurrent callers, in a worker thread."""

from __future__ import annotations

import threading
from pathlib import Path

import trio

from symphony.conductor.api import SnapshotCache
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

        # The listing body is made once, in a worker thread, and shared.
        threads: list[int] = []
        original = got[0].listing

        def listing() -> bytes:
            threads.append(threading.get_ident())
            return original()

        got[0].listing = listing  # type: ignore[method-assign]
        body = await cache.listing()
        assert body.startswith(b'{"deployments":[') and threads != [threading.get_ident()]
        assert await cache.listing() is body and cache.reads == 1


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
