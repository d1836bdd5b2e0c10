"""Many ``/live`` streams on many deployments: store reads per second and event-loop lag.

    python -m benchmarks.live_reads                       # 50 streams, 2,000 deployments
    python -m benchmarks.live_reads --clients 10 --deployments 200 --seconds 5

A Conductor runs in its own process (no node, so every deployment stays pending) with
two probes inside: every SQL ``SELECT`` on any of its SQLite connections is counted (a
trace callback on each connection), and a task on its event loop sleeps 10 ms over and
over and records how late it wakes. That lateness is what a node's heartbeat waits
before the Conductor handles it: while a route reads and renders thousands of rows on
the loop, nothing else runs there.

One deployment's spec is changed every :data:`WRITE_PERIOD` throughout (a cluster where
nothing changes needs no re-read at all). The figures are taken three times: with no
client, with the streams open and reading (each stream sweeps the store once a second),
and with ``GET /deployments`` from several clients besides, each repeating its request
as soon as it is answered.
The result is printed as JSON; ``docs/benchmarks.md`` has the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import trio

PROBE_PERIOD = 0.01
#: How often the benchmark changes a deployment (else nothing is ever re-read).
WRITE_PERIOD = 0.25


# --- the Conductor's side ----------------------------------------------------------------


class SqlCounter:
    """Counts SELECTs on every sqlite3 connection the process opens from now on."""

    def __init__(self) -> None:
        import sqlite3

        self.selects = 0
        self.full_reads = 0  # reads of a whole table: no WHERE clause
        self._lock = threading.Lock()  # worker threads read too
        real = sqlite3.connect

        def connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
            conn = real(*args, **kwargs)
            conn.set_trace_callback(self._trace)
            return conn

        sqlite3.connect = connect  # type: ignore[assignment]

    def _trace(self, sql: str) -> None:
        text = sql.lstrip().upper()
        if not text.startswith("SELECT"):
            return
        with self._lock:
            self.selects += 1
            self.full_reads += " WHERE " not in text and (
                " FROM INSTANCES" in text or " FROM DEPLOYMENTS" in text
            )

    def take(self) -> tuple[int, int]:
        with self._lock:
            out = (self.selects, self.full_reads)
            self.selects = self.full_reads = 0
        return out


async def _probe(lags: list[float]) -> None:
    while True:
        before = trio.current_time()
        await trio.sleep(PROBE_PERIOD)
        lags.append(trio.current_time() - before - PROBE_PERIOD)


async def _serve(state: Path, deployments: int) -> None:
    counter = SqlCounter()
    from symphony.conductor import run_conductor
    from symphony.conductor.store import Store
    from symphony.config import ConductorConfig
    from symphony.spec import parse_spec

    state.mkdir(mode=0o700, parents=True, exist_ok=True)
    with Store.open(state / "symphony.db") as store:
        for n in range(deployments):
            spec = {"name": f"live-{n:05d}", "node_group": "none", "config": {"command": ["x"]}}
            store.create_deployment(parse_spec(spec))
    config = ConductorConfig(
        state_dir=state,
        listen_host="127.0.0.1",
        listen_port=0,
        http_host="127.0.0.1",
        http_port=0,
        http_auth="none",
    )
    lags: list[float] = []
    async with trio.open_nursery() as nursery:
        info = await nursery.start(run_conductor, config)
        nursery.start_soon(_probe, lags)
        print(json.dumps({"http_url": info.http_url}), flush=True)
        counter.take()
        while True:
            await trio.sleep(1.0)
            selects, full = counter.take()
            window, lags[:] = sorted(lags), []
            line = {"selects": selects, "full_reads": full, "lags": _lag_stats(window)}
            print(json.dumps(line), flush=True)


def _lag_stats(window: list[float]) -> dict[str, float]:
    if not window:
        return {"p50": 0.0, "p99": 0.0, "max": 0.0}
    return {
        "p50": window[len(window) // 2] * 1000,
        "p99": window[min(len(window) - 1, int(len(window) * 0.99))] * 1000,
        "max": window[-1] * 1000,
    }


# --- the clients' side --------------------------------------------------------------------


class Server:
    """The Conductor process and its once-a-second report lines."""

    def __init__(self, state: Path, deployments: int) -> None:
        argv = [sys.executable, "-m", "benchmarks.live_reads", "--serve", str(state)]
        argv += ["--deployments", str(deployments)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
        assert self.proc.stdout is not None
        self.url = json.loads(self.proc.stdout.readline())["http_url"]
        self.lines: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(json.loads(line))

    async def window(self, seconds: int) -> list[dict[str, Any]]:
        start = len(self.lines)
        while len(self.lines) < start + seconds + 1:
            await trio.sleep(0.1)
        return self.lines[start + 1 : start + seconds + 1]  # whole seconds only

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _summary(lines: list[dict[str, Any]]) -> dict[str, float]:
    return {
        "selects_per_s": statistics.mean(x["selects"] for x in lines),
        "full_table_reads_per_s": statistics.mean(x["full_reads"] for x in lines),
        "loop_lag_p50_ms": statistics.median(x["lags"]["p50"] for x in lines),
        "loop_lag_p99_ms": statistics.median(x["lags"]["p99"] for x in lines),
        "loop_lag_max_ms": max(x["lags"]["max"] for x in lines),
    }


async def _stream(http: httpx.AsyncClient, ready: list[int], breaks: list[int]) -> None:
    """One ``/live`` reader; like the web UI it reconnects (after 1 s) when the stream breaks."""
    first = True
    while True:
        try:
            async with http.stream("GET", "/live") as response:
                async for _ in response.aiter_bytes():
                    if first:
                        ready.append(1)
                        first = False
        except httpx.HTTPError:
            pass
        breaks.append(1)
        await trio.sleep(1.0)


async def _writer(http: httpx.AsyncClient, deployments: int) -> None:
    """A cluster that changes: one deployment's spec changed every WRITE_PERIOD."""
    n = 0
    while True:
        patch = {"config": {"env": {"ROUND": str(n)}}}
        response = await http.patch(f"/deployments/live-{n % deployments:05d}", json=patch)
        response.raise_for_status()
        n += 1
        await trio.sleep(WRITE_PERIOD)


async def _lister(http: httpx.AsyncClient, count: list[int], failed: list[int]) -> None:
    while True:
        try:
            response = await http.get("/deployments")
            response.raise_for_status()
            count.append(1)
        except httpx.HTTPError:
            failed.append(1)
            await trio.sleep(1.0)


async def measure(clients: int, deployments: int, seconds: int, listers: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="live-reads-") as tmp:
        server = Server(Path(tmp) / "state", deployments)
        try:
            limits = httpx.Limits(max_connections=clients + listers + 4)
            timeout = httpx.Timeout(60.0)
            async with httpx.AsyncClient(
                base_url=server.url, limits=limits, timeout=timeout
            ) as http:
                while len((await http.get("/deployments")).json()["deployments"]) < deployments:
                    await trio.sleep(0.5)
                await trio.sleep(2.0)  # let the start-up placements settle
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(_writer, http, deployments)
                    idle = _summary(await server.window(seconds))
                    ready: list[int] = []
                    breaks: list[int] = []
                    for _ in range(clients):
                        nursery.start_soon(_stream, http, ready, breaks)
                    while len(ready) < clients:
                        await trio.sleep(0.1)
                    live = _summary(await server.window(seconds))
                    live["stream_breaks"] = len(breaks)
                    listed: list[int] = []
                    failed: list[int] = []
                    for _ in range(listers):
                        nursery.start_soon(_lister, http, listed, failed)
                    began = time.monotonic()
                    both = _summary(await server.window(seconds))
                    both["list_responses_per_s"] = len(listed) / (time.monotonic() - began)
                    both["stream_breaks"] = len(breaks) - live["stream_breaks"]
                    both["failed_lists"] = len(failed)
                    nursery.cancel_scope.cancel()
        finally:
            server.stop()
    return {
        "clients": clients,
        "deployments": deployments,
        "listers": listers,
        "idle": idle,
        "live": live,
        "live_and_listing": both,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.live_reads")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--deployments", type=int, default=2000)
    parser.add_argument("--seconds", type=int, default=10, help="length of each window")
    parser.add_argument("--listers", type=int, default=5, help="GET /deployments loops")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        profile = os.environ.get("LIVE_READS_PROFILE")  # a file for cProfile's stats
        if profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()

            def stop(*_: Any) -> None:
                profiler.disable()
                profiler.dump_stats(profile)
                os._exit(0)

            signal.signal(signal.SIGTERM, stop)
        else:
            signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
        trio.run(_serve, args.serve, args.deployments)
        return
    result = trio.run(measure, args.clients, args.deployments, args.seconds, args.listers)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
