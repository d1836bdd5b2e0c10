"""The node monitor's own CPU per start and per end, in bursts, without agent or Conductor.

A real monitor (``python -m symphony.node.process.monitor_server``, started with a soft
open-files limit of 1024 below a higher hard one, as systemd gives its services), a raw
connection to it, bursts of spawn requests sent in one write (``sh`` that prints a line
and sleeps): the monitor's CPU from the scheduler's nanosecond totals
(``/proc/PID/task/*/schedstat``), over the start of each burst (every spawn answered)
and over its end (every job killed, every end announced). Loggers and jobs are other
processes: not counted here.

Run: ``python -m benchmarks.monitor_starts`` (``--bursts 8 --size 100``). Prints one
line per burst and the medians; writes ``benchmarks/results/monitor_starts.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Any

from benchmarks._monitor_socket import connect_monitor
from benchmarks._report import write_json

_LOW_LIMIT = (
    "import resource, sys; _, hard = resource.getrlimit(resource.RLIMIT_NOFILE); "
    "resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard)); "
    "from symphony.node.process.monitor_server import main; sys.exit(main(sys.argv[1:]))"
)


def cpu_ns(pid: int) -> int:
    """The process's CPU time so far, every thread, from the scheduler's totals."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/schedstat") as f:
            total += int(f.read().split()[0])
    return total


class Connection:
    """A raw connection to the monitor: requests out, messages in."""

    def __init__(self, state_dir: str) -> None:
        self.sock = connect_monitor(state_dir, timeout=60)
        self.buffer = b""

    def send(self, requests: list[dict[str, Any]]) -> None:
        self.sock.sendall(b"".join(json.dumps(r).encode() + b"\n" for r in requests))

    def read(self, count: int, key: str) -> list[dict[str, Any]]:
        """The next ``count`` messages that carry ``key`` (others are skipped)."""
        found: list[dict[str, Any]] = []
        while len(found) < count:
            while b"\n" not in self.buffer:
                chunk = self.sock.recv(1 << 16)
                if not chunk:
                    raise RuntimeError("the monitor closed the connection")
                self.buffer += chunk
            *lines, self.buffer = self.buffer.split(b"\n")
            found += [m for m in map(json.loads, lines) if key in m]
        return found


def burst(conn: Connection, pid: int, work: str, index: int, size: int) -> dict[str, float]:
    spawns = [
        {
            "id": i + 1,
            "op": "spawn",
            "run_id": f"j{i}.b{index}",
            "instance_id": f"j{i}",
            "command": ["sh", "-c", "echo started; exec sleep 1000"],
            "env": {"PATH": os.defpath, "SYMPHONY_RUN_ID": f"j{i}.b{index}"},
            "cwd": work,
        }
        for i in range(size)
    ]
    before, wall = cpu_ns(pid), time.perf_counter()
    conn.send(spawns)
    replies = conn.read(size, "id")
    started, wall = cpu_ns(pid), time.perf_counter() - wall
    assert all(r["ok"] for r in replies), replies
    kills = [{"op": "signal", "run_id": r["run"]["run_id"], "signal": 9} for r in replies]
    conn.send(kills)  # without ids: not answered
    conn.read(size, "event")
    ended = cpu_ns(pid)
    for run in replies:
        conn.send([{"op": "ack", "run_id": run["run"]["run_id"]}])
    return {
        "start_us": (started - before) / size / 1000,
        "end_us": (ended - started) / size / 1000,
        "burst_wall_ms": wall * 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, default=8)
    parser.add_argument("--size", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        state_dir, work = os.path.join(tmp, "node"), os.path.join(tmp, "work")
        os.mkdir(work)
        start = [sys.executable, "-c", _LOW_LIMIT, "--state-dir", state_dir]
        monitor = subprocess.Popen(start, stdout=subprocess.PIPE)
        try:
            assert monitor.stdout is not None and monitor.stdout.readline() == b"ready\n"
            conn = Connection(state_dir)
            rows = []
            for index in range(args.bursts + 1):
                row = burst(conn, monitor.pid, work, index, args.size)
                if index:  # the first warms up (imports, first forks)
                    rows.append(row)
                    print(", ".join(f"{k} {v:.1f}" for k, v in row.items()), flush=True)
            conn.send([{"id": 0, "op": "shutdown", "kill": True}])
            monitor.wait(30)
        finally:
            if monitor.poll() is None:
                monitor.kill()
    medians = {key: statistics.median(r[key] for r in rows) for key in rows[0]}
    print("median: " + ", ".join(f"{k} {v:.1f}" for k, v in medians.items()))
    write_json("monitor_starts", {"bursts": rows, "median": medians})


if __name__ == "__main__":
    main()
