"""Stopping a job that crash-loops with no backoff, through a real ProcessManager.

A real agent-side ``ProcessManager`` and its node monitor; the job is ``sh`` that
writes one line to a file and exits 1, with ``restart: always`` (or ``--policy
on-failure``), ``backoff_seconds: 0``, ``max_backoff_seconds: 0``, no budget. Once it has
run ``--runs`` times (200), ``stop_instance`` is called: the stop's wall time, the runs
started during it (lines written), and the CPU of the agent (this process) and of the
monitor over the stop. A stop that takes over ``--limit`` seconds is given up (counted
as a timeout). One line per stop; ``--json`` writes them all.

Run it with the code to measure on ``PYTHONPATH``: ``python benchmarks/crashstop.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from typing import Any

import psutil
import trio

from symphony.conductor.deployments.instances import job_spec
from symphony.node.process import ProcessManager, StartRequest
from symphony.spec import parse_spec


def _lines(path: str) -> int:
    try:
        with open(path, "rb") as f:
            return f.read().count(b"\n")
    except FileNotFoundError:
        return 0


def _monitor(state_dir: str) -> psutil.Process:
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info["cmdline"] or []
        if any("monitor_server" in c for c in cmdline) and state_dir in cmdline:
            return proc
    raise RuntimeError("no node monitor found")


def _cpu(proc: psutil.Process) -> float:
    times = proc.cpu_times()
    return times.user + times.system


async def _one(manager: ProcessManager, monitor: psutil.Process, n: int, args: Any) -> dict:
    log = os.path.join(manager.state_dir, f"runs-{n}.txt")
    policy = {"type": args.policy, "backoff_seconds": 0, "max_backoff_seconds": 0}
    spec = job_spec(
        parse_spec(
            {
                "kind": "exec",
                "config": {"command": ["sh", "-c", f"echo run >> {log}; exit 1"]},
                "restart_policy": {**policy, "max_restarts": None},
            }
        )
    )
    instance_id = f"loop-{n}"
    await manager.start_instance(StartRequest(instance_id=instance_id, spec=spec))
    while _lines(log) < args.runs:
        await trio.sleep(0.01)
    before, agent0, monitor0 = _lines(log), time.process_time(), _cpu(monitor)
    start = time.monotonic()
    state = "timeout"
    with trio.move_on_after(args.limit):
        try:
            state = (await manager.stop_instance(instance_id)).state
        except Exception as error:  # the stop's ask timed out (AskTimeout), say
            state = type(error).__name__
    wall = time.monotonic() - start
    result = {
        "state": state,
        "wall_s": round(wall, 4),
        "runs_during": _lines(log) - before,
        "agent_cpu_s": round(time.process_time() - agent0, 4),
        "monitor_cpu_s": round(_cpu(monitor) - monitor0, 4),
    }
    if state != "stopped":  # still looping: end it so the next stop is measured alone
        await manager.shutdown_monitor(kill_jobs=True)
    return result


async def _main(args: Any) -> list[dict]:
    results = []
    for n in range(args.stops):
        with tempfile.TemporaryDirectory(prefix="crashstop-") as state_dir:
            manager = ProcessManager(state_dir=state_dir, node_id="bench", restart_jitter=0.0)
            async with trio.open_nursery() as nursery:
                await nursery.start(manager.run)
                result = await _one(manager, _monitor(state_dir), n, args)
                if result["state"] == "stopped":
                    await manager.shutdown_monitor(kill_jobs=True)
                nursery.cancel_scope.cancel()
            print(json.dumps(result), flush=True)
            results.append(result)
    return results


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stops", type=int, default=3)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--policy", default="always", choices=["always", "on-failure"])
    parser.add_argument("--limit", type=float, default=60.0)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args(argv)
    results = trio.run(_main, args)
    walls = [r["wall_s"] for r in results]
    print(f"median wall {statistics.median(walls)} s over {len(walls)} stops", file=sys.stderr)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
