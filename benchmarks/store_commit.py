"""What one store write costs, and where it runs: the event-loop thread or a worker.

    python -m benchmarks.store_commit                                  # SQLite only
    python -m benchmarks.store_commit --url postgresql://me@127.0.0.1/bench

Each sample is one ``create_deployment`` (one transaction: the deployment, its first
version, the commit), timed three ways under Trio:

- ``loop``: called on the loop thread, as the Conductor calls its store;
- ``thread``: the same call in ``trio.to_thread.run_sync`` (a worker thread, one
  connection used from it), the other way a synchronous driver can run under Trio;
- ``hop``: ``trio.to_thread.run_sync`` of a function that does nothing, the hop alone.

Also reported: how late a 1 ms sleeper on the loop wakes while the writes run, i.e.
what a node's heartbeat would wait. The result is printed as JSON; the figures are in
``docs/benchmarks.md`` and the module docstring of ``symphony.conductor.store._postgres``.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from symphony.conductor.store import Store
from symphony.conductor.store._db import SqliteDb
from symphony.spec import parse_spec


def _ms(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "p50_ms": round(statistics.median(ordered) * 1000, 3),
        "p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 3),
    }


async def _lag_probe(lags: list[float], stop: trio.Event) -> None:
    while not stop.is_set():
        start = time.perf_counter()
        await trio.sleep(0.001)
        lags.append(time.perf_counter() - start - 0.001)


async def _measure(store: Store, count: int, mode: str, prefix: str) -> dict[str, Any]:
    samples: list[float] = []
    lags: list[float] = []
    stop = trio.Event()

    def create(k: int) -> None:
        spec = parse_spec({"name": f"{prefix}-{mode}-{k}", "config": {"command": ["true"]}})
        store.create_deployment(spec)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(_lag_probe, lags, stop)
        for k in range(count):
            start = time.perf_counter()
            if mode == "loop":
                create(k)
            elif mode == "thread":
                await trio.to_thread.run_sync(create, k)
            else:
                await trio.to_thread.run_sync(lambda: None)
            samples.append(time.perf_counter() - start)
            await trio.sleep(0)  # let the probe run between writes, as actors would
        stop.set()
    return {**_ms(samples), "loop_lag": _ms(lags) if lags else {}}


def _open(url: str | None, state_dir: Path) -> Store:
    if url:
        return Store.open_url(url)
    # Store.open's connection belongs to the thread that made it; the ``thread`` mode
    # needs one any thread may use (one at a time, as here).
    path = state_dir / "symphony.db"
    Store.open(path).close()
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "foreign_keys = ON"):
        conn.execute(f"PRAGMA {pragma}")
    return Store(SqliteDb(conn), path=path, clock=time.time)


async def _run(url: str | None, state_dir: Path, count: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    store = _open(url, state_dir)
    try:
        for mode in ("loop", "thread", "hop"):
            await _measure(store, 50, mode, "warm")  # prepared statements, page cache
            out[mode] = await _measure(store, count, mode, "run")
    finally:
        store.close()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.store_commit")
    parser.add_argument("--url", help="a PostgreSQL URL (an empty database) to measure too")
    parser.add_argument("--count", type=int, default=1000)
    args = parser.parse_args(argv)
    result: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        result["sqlite"] = trio.run(_run, None, Path(tmp), args.count)
    if args.url:
        result["postgresql"] = trio.run(_run, args.url, Path("."), args.count)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
