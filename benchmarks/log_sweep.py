"""What the node's sweep of orphaned logs costs — ``python -m benchmarks.log_sweep``.

A real process manager (and monitor) on a temporary state dir, with ``--dirs`` log
directories of instances it does not hold (6 small files each, as a rotated stdout and
stderr with their time indexes). ``idle_cpu_ms``: the process's CPU time of one sweep
with nothing due (every directory measured, in a worker thread); ``delete_cpu_ms``: one
sweep that deletes them all (``delete_loop_ms``: the part on the event loop, the
renames), each as the median of ``--repeat`` runs.

Example::

    python -m benchmarks.log_sweep --dirs 1000 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from symphony.node.process import ProcessManager, loggc

FILES = ("stdout.log", "stdout.log.1", "stdout.times", "stdout.times.1")
FILES += ("stderr.log", "stderr.times")


def _orphans(logs: Path, count: int, days: float) -> None:
    when = time.time() - days * 86400
    for i in range(count):
        directory = logs / f"gone-{i}"
        directory.mkdir(parents=True)
        for name in FILES:
            (directory / name).write_bytes(b"x" * 100)
            os.utime(directory / name, (when, when))
        os.utime(directory, (when, when))


async def _bench(dirs: int, repeat: int, tmp: Path) -> dict[str, Any]:
    idle, delete, loop, renames = [], [], [], []
    rename = os.rename

    def timed(src: str, dst: str) -> None:  # the renames are the sweep's part on the loop
        t = time.process_time()
        rename(src, dst)
        renames.append(time.process_time() - t)

    manager = ProcessManager(state_dir=str(tmp / "jobs"), node_id="n1", container_runtimes={})
    async with trio.open_nursery() as nursery:
        await nursery.start(manager.run)
        logs = tmp / "jobs" / "logs"
        for _ in range(repeat):
            _orphans(logs, dirs, days=1)
            start = time.process_time()
            assert await loggc.sweep(manager, retention=7 * 86400, max_bytes=0) == (0, 0)
            idle.append((time.process_time() - start) * 1000)
            for directory in logs.iterdir():
                for name in FILES:
                    os.utime(directory / name, (0, 0))
                os.utime(directory, (0, 0))
            renames.clear()
            os.rename = timed  # type: ignore[assignment]
            try:
                start = time.process_time()
                count, _ = await loggc.sweep(manager, retention=7 * 86400, max_bytes=0)
                delete.append((time.process_time() - start) * 1000)
            finally:
                os.rename = rename
            assert count == dirs, count
            loop.append(sum(renames) * 1000)
        await manager.shutdown_monitor()
        nursery.cancel_scope.cancel()
    return {
        "dirs": dirs,
        "repeat": repeat,
        "idle_cpu_ms": round(statistics.median(idle), 1),
        "delete_cpu_ms": round(statistics.median(delete), 1),
        "delete_loop_ms": round(statistics.median(loop), 1),
        "load": os.getloadavg(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dirs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        result = trio.run(_bench, args.dirs, args.repeat, Path(tmp))
    print(json.dumps(result, indent=2))
    out = Path(__file__).parent / "results" / "log_sweep.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
