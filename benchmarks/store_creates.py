"""Creates per second through the HTTP API, with the store on SQLite or PostgreSQL.

    python -m benchmarks.store_creates                                   # SQLite
    python -m benchmarks.store_creates --url postgresql://me@127.0.0.1/bench

A Conductor runs in its own process (``benchmarks._conductor_proc``, no node: every
deployment stays pending, so what is measured is the API and the store, not process
starts). ``--clients`` tasks send ``POST /deployments`` back to back until ``--count``
deployments exist; the figures are creates per second over the whole run and the
latency of one POST. The database should be empty (a new one per run). The result is
printed as JSON; ``docs/benchmarks.md`` has the figures.
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
import time
from pathlib import Path
from typing import Any

import httpx
import trio


def _start(state: Path, url: str | None) -> tuple[subprocess.Popen[bytes], str]:
    args = [sys.executable, "-m", "benchmarks._conductor_proc", "--state", str(state)]
    args += ["--log-level", "WARNING"] + (["--store-url", url] if url else [])
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stdin=subprocess.DEVNULL)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if not line:
        proc.wait(10)
        raise SystemExit(f"the Conductor did not start (exit {proc.returncode})")
    return proc, str(json.loads(line)["http_url"])


async def _creates(base: str, count: int, clients: int) -> dict[str, Any]:
    latencies: list[float] = []
    names = iter(range(count))

    async def client(http: httpx.AsyncClient) -> None:
        for i in names:
            spec = {"name": f"c-{i}", "config": {"command": ["true"]}}
            start = time.perf_counter()
            response = await http.post("/deployments", json=spec)
            latencies.append(time.perf_counter() - start)
            if response.status_code != 201:
                raise RuntimeError(f"POST answered {response.status_code}: {response.text}")

    async with httpx.AsyncClient(base_url=base, timeout=60) as http:
        await http.post("/deployments", json={"name": "warm", "config": {"command": ["true"]}})
        began = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for _ in range(clients):
                nursery.start_soon(client, http)
        elapsed = time.perf_counter() - began
    ordered = sorted(latencies)
    return {
        "creates": count,
        "clients": clients,
        "creates_per_s": round(count / elapsed, 1),
        "post_p50_ms": round(statistics.median(ordered) * 1000, 2),
        "post_p99_ms": round(ordered[int(len(ordered) * 0.99) - 1] * 1000, 2),
    }


def run(url: str | None, count: int, clients: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp:
        proc, base = _start(Path(tmp), url)
        try:
            return trio.run(_creates, base, count, clients)
        finally:
            os.kill(proc.pid, signal.SIGTERM)
            proc.wait(30)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.store_creates")
    parser.add_argument("--url", help="a PostgreSQL URL (an empty database); else SQLite")
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args(argv)
    engine = "postgresql" if args.url else "sqlite"
    print(json.dumps({engine: run(args.url, args.count, args.clients)}, indent=2))


if __name__ == "__main__":
    main()
