"""Node scale: how many node links one Conductor holds, and how fast they come back.

The Conductor runs in its own process (``benchmarks._conductor_proc``); a simulated
fleet (``benchmarks.simnode``: real mTLS WebSockets, real hellos and heartbeats) runs in
this one. For each fleet size it measures:

- **connect**: from starting the fleet until ``GET /nodes`` lists every node ``ready``;
- **CPU / RSS**: the Conductor process's CPU (% of one core, psutil, averaged over a
  steady-state window while every node heartbeats every 3 s) and its resident memory;
- **reconnect**: SIGKILL the Conductor, start it again on the same ports and state
  directory, and time from that start until ``GET /nodes`` lists every node ``ready``.

Run: ``python -m benchmarks.nodes`` (100, 1,000 and 5,000 nodes, a few minutes) or
``python -m benchmarks.nodes --quick`` (50 and 200 nodes, under a minute). Prints a table
and writes ``benchmarks/results/nodes.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psutil
import trio

from benchmarks._bytecode import compile_symphony
from benchmarks._gcclock import GcClock
from benchmarks._report import print_table, summary, write_json
from benchmarks.simnode import (
    FleetSettings,
    FleetStats,
    collect_rarely,
    raise_nofile_limit,
    run_fleet,
)

#: The collector's CPU in this process (the simulated fleet's).
_FLEET_GC = GcClock()

#: (fleet size, figure) -> target, from the issue.
CPU_TARGET = (5000, 35.0)  # % of one core at 5,000 nodes, 3 s heartbeats
RECONNECT_TARGET = (5000, 30.0)  # seconds for 5,000 nodes after a Conductor restart
KIB_PER_NODE_TARGET = (5000, 40.0)  # Conductor memory per connected node


@dataclass
class Conductor:
    """A Conductor subprocess and where it listens."""

    proc: trio.Process
    node_port: int = 0
    http_url: str = ""
    cert_dir: Path = Path()
    psutil: psutil.Process | None = None
    _buffer: bytes = b""

    async def read_line(self, timeout: float = 30.0) -> dict[str, Any]:
        """The next JSON line the Conductor prints on stdout."""
        assert self.proc.stdout is not None
        with trio.fail_after(timeout):
            while b"\n" not in self._buffer:
                chunk = await self.proc.stdout.receive_some()
                if not chunk:
                    raise RuntimeError("the conductor exited; see its log")
                self._buffer += chunk
        line, self._buffer = self._buffer.split(b"\n", 1)
        return json.loads(line)

    async def gc_report(self) -> dict[str, Any]:
        """Garbage-collector CPU so far (the launcher answers SIGUSR1 with a line)."""
        self.proc.send_signal(signal.SIGUSR1)
        return (await self.read_line())["gc"]


async def start_conductor(
    state: Path, log_file: Any, *, node_port: int = 0, http_port: int = 0
) -> Conductor:
    """Start ``benchmarks._conductor_proc`` and read its one JSON line."""
    cmd = [sys.executable, "-m", "benchmarks._conductor_proc", "--state", str(state)]
    cmd += ["--node-port", str(node_port), "--http-port", str(http_port)]
    if os.environ.get("SYMPHONY_BENCH_PROFILE"):
        cmd += ["--profile", os.environ["SYMPHONY_BENCH_PROFILE"]]
    if os.environ.get("SYMPHONY_BENCH_CPYTHON_GC"):  # to compare: CPython's thresholds
        cmd += ["--cpython-gc"]
    proc = await trio.lowlevel.open_process(
        cmd, stdout=subprocess.PIPE, stderr=log_file, stdin=subprocess.DEVNULL
    )
    conductor = Conductor(proc)
    info = await conductor.read_line()
    conductor.node_port, conductor.http_url = info["node_port"], info["http_url"]
    conductor.cert_dir, conductor.psutil = Path(info["cert_dir"]), psutil.Process(proc.pid)
    return conductor


async def stop_conductor(conductor: Conductor, sig: int = signal.SIGTERM) -> None:
    """Signal the Conductor and wait for it to exit (SIGKILL after 10 s)."""
    if conductor.proc.returncode is None:
        conductor.proc.send_signal(sig)
    with trio.move_on_after(10):
        await conductor.proc.wait()
    if conductor.proc.returncode is None:
        conductor.proc.kill()
        await conductor.proc.wait()


async def ready_count(client: httpx.AsyncClient, conductor: Conductor) -> int:
    """How many nodes ``GET /nodes`` lists as ready."""
    response = await client.get(f"{conductor.http_url}/nodes", timeout=30)
    response.raise_for_status()
    return sum(node["state"] == "ready" for node in response.json()["nodes"])


async def wait_all_ready(
    client: httpx.AsyncClient, conductor: Conductor, stats: FleetStats, timeout: float
) -> None:
    """Wait for the fleet to count every link up, then for the API to agree.

    Watching the fleet's own counter first keeps us from polling ``GET /nodes`` (a
    big JSON document at 5,000 nodes) while the Conductor is busy accepting links.
    """
    with trio.fail_after(timeout):
        await stats.wait_until(lambda s: s.connected >= s.target)
        while await ready_count(client, conductor) < stats.target:
            await trio.sleep(0.05)


async def measure_cpu(conductor: Conductor, stats: FleetStats, window: float) -> dict[str, Any]:
    """CPU of the Conductor (and of this simulator) over ``window`` seconds of heartbeats."""
    me, them = psutil.Process(), conductor.psutil
    assert them is not None
    them.cpu_percent()  # the first call only starts the measurement
    gc0 = await conductor.gc_report()
    sim_gc0 = sum(_FLEET_GC.seconds)
    cpu0, sim0, all0 = them.cpu_times(), me.cpu_times(), psutil.cpu_times()
    beats0 = stats.heartbeats
    began = time.perf_counter()
    samples = []
    while time.perf_counter() - began < window:
        await trio.sleep(1.0)
        samples.append(them.cpu_percent())
    elapsed = time.perf_counter() - began
    cpu1, sim1, all1 = them.cpu_times(), me.cpu_times(), psutil.cpu_times()
    gc1 = await conductor.gc_report()
    sim_gc = sum(_FLEET_GC.seconds) - sim_gc0
    busy = _busy(cpu0, cpu1)
    sim_busy = _busy(sim0, sim1)
    machine_busy = _busy(all0, all1, fields=("user", "nice", "system", "irq", "softirq", "steal"))
    return {
        "cpu_percent": 100.0 * busy / elapsed,
        "cpu_percent_per_second": summary(samples),
        "gc_percent": 100.0 * (sum(gc1["seconds"]) - sum(gc0["seconds"])) / elapsed,
        "gc_runs": [b - a for a, b in zip(gc0["runs"], gc1["runs"], strict=True)],
        "gc_tracked_objects": gc1["tracked"],
        "rss_mib": them.memory_info().rss / (1 << 20),
        "heartbeats_per_second": (stats.heartbeats - beats0) / elapsed,
        "simulator_cpu_percent": 100.0 * sim_busy / elapsed,
        "simulator_gc_percent": 100.0 * sim_gc / elapsed,
        "other_processes_cpu_percent": 100.0 * (machine_busy - busy - sim_busy) / elapsed,
        "load_average_1min": os.getloadavg()[0],
        "window_seconds": elapsed,
    }


def _cpu_ms_per_node(conductor: Conductor, sim_before: Any, nodes: int) -> dict[str, float]:
    """CPU milliseconds per node of the Conductor (since it started) and of the fleet."""
    assert conductor.psutil is not None
    them = _busy(_ZERO_TIMES, conductor.psutil.cpu_times())
    sim = _busy(sim_before, psutil.Process().cpu_times())
    return {"conductor": 1000.0 * them / nodes, "simulator": 1000.0 * sim / nodes}


class _ZeroTimes:
    user = system = 0.0


_ZERO_TIMES = _ZeroTimes()


def _busy(before: Any, after: Any, fields: tuple[str, ...] = ("user", "system")) -> float:
    """CPU seconds between two psutil ``cpu_times`` readings."""
    return sum(getattr(after, f, 0.0) - getattr(before, f, 0.0) for f in fields)


async def heartbeats_fresh(client: httpx.AsyncClient, conductor: Conductor, within: float) -> int:
    """How many nodes had a heartbeat in the last ``within`` seconds (the Conductor kept up)."""
    response = await client.get(f"{conductor.http_url}/nodes", timeout=30)
    now = time.time()
    return sum(
        node["last_heartbeat"] is not None and now - node["last_heartbeat"] <= within
        for node in response.json()["nodes"]
    )


async def run_scale(nodes: int, args: argparse.Namespace, workdir: Path) -> dict[str, Any]:
    """Connect, hold and restart-reconnect one fleet size against a fresh Conductor."""
    result: dict[str, Any] = {"nodes": nodes}
    started: list[Conductor] = []  # every Conductor process of this run, to stop them all
    with open(workdir / f"conductor-{nodes}.log", "ab") as log_file:
        try:
            await _phases(result, args, workdir / f"conductor-{nodes}", log_file, started)
        finally:
            with trio.CancelScope(shield=True):
                for conductor in started:
                    await stop_conductor(conductor)
    return result


async def _phases(
    result: dict[str, Any],
    args: argparse.Namespace,
    state: Path,
    log_file: Any,
    started: list[Conductor],
) -> None:
    nodes = result["nodes"]
    conductor = await start_conductor(state, log_file)
    started.append(conductor)
    assert conductor.psutil is not None
    result["rss_before_fleet_mib"] = conductor.psutil.memory_info().rss / (1 << 20)
    settings = FleetSettings(
        host="127.0.0.1",
        port=conductor.node_port,
        cert_dir=conductor.cert_dir,
        nodes=nodes,
        heartbeat_sec=args.heartbeat,
    )
    stats = FleetStats(target=nodes)
    async with httpx.AsyncClient() as client, trio.open_nursery() as nursery:
        began, sim0 = trio.current_time(), psutil.Process().cpu_times()
        nursery.start_soon(lambda: run_fleet(settings, stats=stats))
        try:
            await wait_all_ready(client, conductor, stats, timeout=args.timeout)
        except trio.TooSlowError:  # never all up at once: nothing else to measure
            result["connected_at_timeout"] = stats.connected
            result["connect_errors"] = stats.errors
            print(f"  {nodes} nodes: only {stats.connected} up after {args.timeout} s", flush=True)
            nursery.cancel_scope.cancel()
            return
        result["connect_seconds"] = trio.current_time() - began
        result["connect_errors"] = stats.errors
        # CPU per connect does not depend on what else the machine runs; seconds do.
        result["connect_cpu_ms_per_node"] = _cpu_ms_per_node(conductor, sim0, nodes)
        print(f"  {nodes} nodes: all ready in {result['connect_seconds']:.2f} s", flush=True)

        await trio.sleep(args.settle)  # let the connect burst drain from both processes
        result.update(await measure_cpu(conductor, stats, args.window))
        grown = result["rss_mib"] - result["rss_before_fleet_mib"]
        result["kib_per_node"] = 1024.0 * grown / nodes
        # Load-independent: CPU time per heartbeat received (the machine may be busy).
        beats = result["heartbeats_per_second"]
        result["cpu_us_per_heartbeat"] = 1e4 * result["cpu_percent"] / beats if beats else None
        result["heartbeats_fresh"] = await heartbeats_fresh(client, conductor, 2 * args.heartbeat)
        print(f"  {nodes} nodes: conductor CPU {result['cpu_percent']:.1f}%", flush=True)

        if getattr(args, "no_restart", False):
            result["reconnect_seconds"], result["restart_skipped"] = None, True
            nursery.cancel_scope.cancel()
            return
        errors_before = stats.errors
        await stop_conductor(conductor, signal.SIGKILL)
        log_mark = os.fstat(log_file.fileno()).st_size  # the restarted Conductor's log follows
        with trio.fail_after(30):
            await stats.wait_until(lambda s: s.connected == 0)
        restarted, sim0 = trio.current_time(), psutil.Process().cpu_times()
        http_port = int(conductor.http_url.rsplit(":", 1)[1])
        conductor = await start_conductor(
            state, log_file, node_port=conductor.node_port, http_port=http_port
        )
        started.append(conductor)
        result["restart_start_seconds"] = trio.current_time() - restarted
        try:
            await wait_all_ready(client, conductor, stats, timeout=args.timeout)
            result["reconnect_seconds"] = trio.current_time() - restarted
            result["reconnect_cpu_ms_per_node"] = _cpu_ms_per_node(conductor, sim0, nodes)
        except trio.TooSlowError:  # an overloaded conductor: record it, go on
            result["reconnect_seconds"] = None
            result["reconnect_connected_at_timeout"] = stats.connected
        result["reconnect_failed_attempts"] = stats.errors - errors_before
        result["lost_during_restart"] = declared_lost(Path(log_file.name), log_mark)
        print(f"  {nodes} nodes: reconnected after {result['reconnect_seconds']} s", flush=True)
        nursery.cancel_scope.cancel()


def declared_lost(log_path: Path, since: int) -> int:
    """How many times the Conductor's log, from byte ``since`` on, declares a node lost
    (the registry logs each state change: ``node 'n7' disconnected -> lost: ...``)."""
    with open(log_path, "rb") as log:
        log.seek(since)
        return sum(1 for line in log if b" -> lost: " in line)


def rows(results: list[dict[str, Any]], *, quick: bool) -> list[list[Any]]:
    """The printed table: figure, value, target, status."""

    def target(nodes: int, which: tuple[int, float], value: float | None, unit: str) -> list[Any]:
        if quick or nodes != which[0]:
            return ["", ""]
        met = value is not None and value <= which[1]
        return [f"<= {which[1]:g}{unit}", "met" if met else "NOT MET"]

    out: list[list[Any]] = []
    for r in results:
        n = r["nodes"]
        if "connect_seconds" not in r:
            out.append(
                [
                    f"{n:,} nodes: all ready after start (s)",
                    f"timed out ({r['connected_at_timeout']:,} up)",
                    "",
                    "NOT MET" if not quick and n == CPU_TARGET[0] else "",
                ]
            )
            continue
        reconnect = r["reconnect_seconds"]
        restart_rows = (
            []
            if r.get("restart_skipped")
            else [
                [
                    f"{n:,} nodes: all ready after conductor restart (s)",
                    "timed out" if reconnect is None else reconnect,
                    *target(n, RECONNECT_TARGET, reconnect, " s"),
                ],
                [
                    f"{n:,} nodes: declared lost during the restart",
                    r.get("lost_during_restart", "n/a"),
                    *(
                        ["", ""]
                        if quick or n != RECONNECT_TARGET[0]
                        else ["0", "met" if r.get("lost_during_restart") == 0 else "NOT MET"]
                    ),
                ],
                [
                    f"{n:,} nodes: conductor CPU per reconnect (ms, start included)",
                    r.get("reconnect_cpu_ms_per_node", {}).get("conductor", "n/a"),
                    "",
                    "",
                ],
            ]
        )
        out += [
            [f"{n:,} nodes: all ready after start (s)", r["connect_seconds"], "", ""],
            [
                f"{n:,} nodes: conductor CPU per connect (ms, start included)",
                r["connect_cpu_ms_per_node"]["conductor"],
                "",
                "",
            ],
            [
                f"{n:,} nodes: conductor CPU, % of one core",
                r["cpu_percent"],
                *target(n, CPU_TARGET, r["cpu_percent"], "%"),
            ],
            [f"{n:,} nodes: of which garbage collector", r["gc_percent"], "", ""],
            [
                f"{n:,} nodes: conductor CPU per heartbeat (µs; x {5000 / 3:.0f}/s at 5,000)",
                r["cpu_us_per_heartbeat"],
                "",
                "",
            ],
            [f"{n:,} nodes: conductor RSS (MiB)", r["rss_mib"], "", ""],
            [
                f"{n:,} nodes: conductor memory per node (KiB, RSS growth / nodes)",
                r["kib_per_node"],
                *target(n, KIB_PER_NODE_TARGET, r["kib_per_node"], " KiB"),
            ],
            [
                f"{n:,} nodes: heartbeats/s sent (fresh at end)",
                r["heartbeats_per_second"],
                f"{n / 3:.0f} expected",
                f"{r['heartbeats_fresh']:,}/{n:,} fresh",
            ],
            [f"{n:,} nodes: simulator CPU, % of one core", r["simulator_cpu_percent"], "", ""],
            [
                f"{n:,} nodes: of which its garbage collector",
                r.get("simulator_gc_percent", "n/a"),
                "",
                "",
            ],
            [
                f"{n:,} nodes: other processes' CPU, % of one core",
                r["other_processes_cpu_percent"],
                "",
                "",
            ],
        ]
        out += restart_rows
    return out


async def amain(args: argparse.Namespace) -> list[dict[str, Any]]:
    results = []
    with tempfile.TemporaryDirectory(prefix="symphony-nodes-") as tmp:
        for nodes in args.nodes:
            print(f"fleet of {nodes:,} nodes", flush=True)
            workdir = Path(args.keep or tmp)
            workdir.mkdir(parents=True, exist_ok=True)
            results.append(await run_scale(nodes, args, workdir))
    return results


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.nodes", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="50 and 200 nodes, short windows")
    parser.add_argument("--nodes", type=int, nargs="+", help="fleet sizes (default 100 1000 5000)")
    parser.add_argument("--heartbeat", type=float, default=3.0)
    parser.add_argument("--window", type=float, help="CPU window in seconds (default 15; quick 5)")
    parser.add_argument(
        "--settle", type=float, help="seconds before the window (default 5; quick 2)"
    )
    parser.add_argument("--timeout", type=float, default=300.0, help="give up on a phase after")
    parser.add_argument("--keep", type=Path, help="keep conductor state and logs in this dir")
    parser.add_argument(
        "--no-restart", action="store_true", help="measure connects and CPU only, no restart"
    )
    args = parser.parse_args(argv)
    compile_symphony()
    args.nodes = args.nodes or ([50, 200] if args.quick else [100, 1000, 5000])
    args.window = args.window or (5.0 if args.quick else 15.0)
    args.settle = args.settle if args.settle is not None else (2.0 if args.quick else 5.0)
    raise_nofile_limit()
    if not os.environ.get("SYMPHONY_BENCH_FLEET_CPYTHON_GC"):  # (to compare)
        collect_rarely()  # the fleet's process, as the Conductor's
    results = trio.run(amain, args)
    print_table(
        "Node scale (conductor and simulator share the machine)",
        ["figure", "value", "target", "status"],
        rows(results, quick=args.quick),
    )
    path = write_json(
        "nodes",
        {
            "mode": "quick" if args.quick else "full",
            "heartbeat_sec": args.heartbeat,
            "targets": {
                "cpu_percent_at_5000_nodes": CPU_TARGET[1],
                "reconnect_seconds_at_5000_nodes": RECONNECT_TARGET[1],
                "kib_per_node_at_5000_nodes": KIB_PER_NODE_TARGET[1],
            },
            "scales": results,
        },
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
