"""The takeover after a leader's clean stop (SIGTERM), with real processes (docs/ha.md).

    python -m benchmarks.stop_takeover --lease 1 --runs 3

Two Conductor processes share one SQLite file (as in :mod:`benchmarks.failover`, no
node). The leader gets SIGTERM, once with nothing in flight and once while a create has
sent 5 bytes of its body, whose rest the client sends ``--rest`` seconds after the signal
(within the stop's 1 s grace, past the lease's deadline). Measured, from the signal:
the leader giving its lease up (``released_s``, seen within ~2 ms; None: it never
did), the standby holding the lease (``takeover_s``: when its term began), the
leader's process exit (``exit_s``, after the interpreter's own end), and the create's
answer (a ``503`` there is the fenced write of a leader whose lease a standby took
while it drained).
"""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sqlite3
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from .failover import Pair, wait

BODY = json.dumps({"name": "late", "node_group": "g", "config": {"command": ["true"]}}).encode()


def lease_row(pair: Pair) -> tuple[str, float, float] | None:
    """``(holder, acquired_at, expires_at)`` of the lease as stored."""
    conn = sqlite3.connect(f"file:{pair.db}?mode=ro", uri=True, timeout=5)
    try:
        row = conn.execute("SELECT holder, acquired_at, expires_at FROM leases").fetchone()
    finally:
        conn.close()
    return None if row is None else (str(row[0]), float(row[1]), float(row[2]))


def create_in_parts(url: str, token: str, rest: threading.Event, answer: list[bytes]) -> None:
    host, port = url.removeprefix("http://").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        head = (
            f"POST /deployments HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(BODY)}\r\n\r\n"
        )
        sock.sendall(head.encode() + BODY[:5])
        rest.wait()
        sock.sendall(BODY[5:])
        answer.append(sock.recv(65536))


def one_stop(root: Path, *, lease: float, in_flight: bool, rest_after: float) -> dict[str, Any]:
    pair = Pair(root, lease)
    try:
        pair.start_conductor("a")
        wait("a to lead", lambda: pair.leads("a"))
        wait("a's API", lambda: pair.client(pair.http["a"]).health())
        pair.start_conductor("b")
        wait("b's API", lambda: pair.client(pair.http["b"]).health())
        rest, answer = threading.Event(), []
        sender = None
        if in_flight:
            sender = threading.Thread(
                target=create_in_parts, args=(pair.http["a"], pair.token, rest, answer)
            )
            sender.start()
            time.sleep(0.3)  # the head and the first bytes are in
        a_name, b_name = pair.name_of("a"), pair.name_of("b")
        leader = pair.procs["a"]
        signalled = time.time()
        leader.send_signal(signal.SIGTERM)
        exited = released = None
        while True:
            if exited is None and leader.poll() is not None:
                exited = time.time()
            if sender is not None and not rest.is_set() and time.time() - signalled >= rest_after:
                rest.set()
            row = lease_row(pair)
            if released is None and row is not None and row[0] == a_name and row[2] == 0:
                released = time.time()
            if exited is not None and row is not None and row[0] == b_name:
                began = row[1]
                break
            if time.time() - signalled > 30:
                raise TimeoutError("no takeover")
            time.sleep(0.002)
        if sender is not None:
            rest.set()
            sender.join(10)
        return {
            "lease_s": lease,
            "in_flight": in_flight,
            "released_s": None if released is None else round(released - signalled, 3),
            "takeover_s": round(began - signalled, 3),
            "exit_s": round(exited - signalled, 3),
            "create": answer[0].split(b"\r\n", 1)[0].decode() if answer else None,
        }
    finally:
        pair.stop()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.stop_takeover")
    parser.add_argument("--lease", type=float, default=1.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rest", type=float, default=0.9, help="seconds until the body's rest")
    args = parser.parse_args(argv)
    for run in range(args.runs):
        for in_flight in (False, True):
            with tempfile.TemporaryDirectory() as tmp:
                figures = one_stop(
                    Path(tmp), lease=args.lease, in_flight=in_flight, rest_after=args.rest
                )
                print(json.dumps({"run": run, **figures}), flush=True)


if __name__ == "__main__":
    main()
