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
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import trio

from symphony.conductor.store import Store
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


async def _measure(
    store: Store, count: int, mode: str, prefix: str, own_thread: ThreadPoolExecutor | None
) -> dict[str, Any]:
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
            elif mode == "thread" and own_thread is not None:
                # A SQLite connection serves only the thread that opened it: hand the
                # call to that thread (one more hop than PostgreSQL's case).
                await trio.to_thread.run_sync(lambda k=k: own_thread.submit(create, k).result())
            elif mode == "thread":
                await trio.to_thread.run_sync(create, k)
            else:
                await trio.to_thread.run_sync(lambda: None)
            samples.append(time.perf_counter() - start)
            await trio.sleep(0)  # let the probe run between writes, as actors would
        stop.set()
    return {**_ms(samples), "loop_lag": _ms(lags) if lags else {}}


async def _run(url: str | None, state_dir: Path, count: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    store = Store.open_url(url, state_dir=state_dir)
    own_thread = ThreadPoolExecutor(max_workers=1) if store.path is not None else None
    threaded = store
    if own_thread is not None:
        threaded = own_thread.submit(Store.open_url, url, state_dir=state_dir).result()
    try:
        for mode in ("loop", "thread", "hop"):
            used = threaded if mode == "thread" else store
            await _measure(used, 50, mode, "warm", own_thread)  # prepared statements, cache
            out[mode] = await _measure(used, count, mode, "run", own_thread)
    finally:
        store.close()
        if own_thread is not None:
            own_thread.submit(threaded.close).result()
            own_thread.shutdown()
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
