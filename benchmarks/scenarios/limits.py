"""The limits underneath: what the operating system and the libraries cost by themselves.

Measured first, in the same run, and shown beside the figures built on them:

- raw spawn + reap of ``/bin/true`` (``subprocess.run`` back to back);
- raw mTLS WebSocket: one-way message rate and round trip, with the server in another
  process (``benchmarks/wire.py``'s server and measurement);
- TLS connect: TCP + TLS 1.3 + WebSocket upgrade + hello round trip;
- SQLite commit: one small ``INSERT`` + ``COMMIT`` in WAL mode, ``synchronous=NORMAL``
  and ``FULL``.
"""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import trio

from benchmarks import wire
from benchmarks.process import raw_spawn

from ._context import Context
from ._figures import Figure, stats

NAME = "limits"


def sqlite_commits(path: Path, synchronous: str, n: int) -> list[float]:
    """Seconds per INSERT+COMMIT of one small row."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={synchronous}")
    db.execute("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, body TEXT)")
    samples = []
    for i in range(n):
        start = time.perf_counter()
        db.execute("BEGIN")
        db.execute("INSERT INTO t (body) VALUES (?)", (f"row {i} " * 8,))
        db.execute("COMMIT")
        samples.append(time.perf_counter() - start)
    db.close()
    return samples


async def wire_runs(workdir: Path, messages: int, repeats: int) -> list[dict[str, float]]:
    """``benchmarks.wire``'s measurement against its server in another process."""
    cert_dir = workdir / "wire-certs"
    ctx = wire._node_context(cert_dir)
    server = subprocess.Popen(
        [sys.executable, wire.__file__, "--serve", str(cert_dir)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        port = int(server.stdout.readline())  # type: ignore[union-attr]
        return [await wire._measure(port, ctx, messages) for _ in range(repeats)]
    finally:
        server.terminate()
        server.wait(5)


async def run(ctx: Context) -> list[Figure]:
    repeats = ctx.size(2, 5)
    spawn = [raw_spawn(ctx.size(0.3, 1.0)) for _ in range(repeats)]
    runs = await wire_runs(ctx.workdir, ctx.size(2000, 20000), repeats)
    commits = {
        sync: await trio.to_thread.run_sync(
            sqlite_commits, ctx.workdir / f"limit-{sync}.db", sync, ctx.size(200, 2000)
        )
        for sync in ("NORMAL", "FULL")
    }
    found = {
        "spawn_per_s": stats([s["per_second"] for s in spawn]),
        "spawn_ms": stats([s["median"] for s in spawn], 1000),
        "ws_msgs_per_s": stats([r["one_way_msgs_per_s"] for r in runs]),
        "ws_rtt_ms": stats([r["rtt_p50_ms"] for r in runs]),
        "tls_connect_ms": stats([r["connect_p50_ms"] for r in runs]),
        "sqlite_normal_ms": stats(commits["NORMAL"], 1000),
        "sqlite_full_ms": stats(commits["FULL"], 1000),
    }
    ctx.limits.update(found)
    rows = [
        ("raw spawn+reap /bin/true", "per s", "spawn_per_s", "higher"),
        ("raw spawn+reap /bin/true", "ms", "spawn_ms", "lower"),
        ("raw mTLS WebSocket, one-way", "msg/s", "ws_msgs_per_s", "higher"),
        ("raw mTLS WebSocket round trip", "ms", "ws_rtt_ms", "lower"),
        ("TLS connect (TCP+TLS+upgrade+hello)", "ms", "tls_connect_ms", "lower"),
        ("SQLite commit, WAL synchronous=NORMAL", "ms", "sqlite_normal_ms", "lower"),
        ("SQLite commit, WAL synchronous=FULL", "ms", "sqlite_full_ms", "lower"),
    ]
    note = "a limit: nothing to compare"
    return [
        Figure(NAME, label, unit, found[key], better, peer_note=note)  # type: ignore[arg-type]
        for label, unit, key, better in rows
    ]
