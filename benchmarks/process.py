"""The node's process layer: how fast jobs start and restart, and what each one costs.

Measured with real processes through :class:`symphony.node.process.ProcessManager` (its
actors, its node monitor and the unix socket between them), each figure beside the raw
cost of the operating system measured in the same run:

- **raw spawn**: ``subprocess.run(["/bin/true"])`` back to back (spawn + exit + reap), per
  second and per call: the floor any supervisor stands on;
- **spawn -> running**: from ``start_instance`` to the ``running`` status update;
- **restart after SIGKILL**: a job with ``restart_policy: always, backoff_seconds: 0`` is
  killed with SIGKILL; time from the kill to the next ``running`` update (target: p50 at
  most 10 ms);
- **jobs/s started**: N jobs started concurrently, until all are ``running``;
- **monitor memory per job**: growth of the node monitor's RSS with N ``sleep`` jobs,
  divided by N (target: under 1 MB per job at 200 jobs).

Run: ``python -m benchmarks.process`` (``--jobs 200``). Prints a table and writes
``benchmarks/results/process.json``.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import time
from typing import Any

import trio

from benchmarks._report import print_table, summary, write_json
from symphony.node.process import ProcessManager, StartRequest, StatusUpdate
from symphony.spec import parse_spec
from symphony.wire import JobSpec, job_spec_from_dict


def raw_spawn(seconds: float = 1.0) -> dict[str, float]:
    """Back-to-back /bin/true runs: rate and per-call latency."""
    samples = []
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        start = time.perf_counter()
        subprocess.run(["/bin/true"], check=True)
        samples.append(time.perf_counter() - start)
    return {"per_second": len(samples) / sum(samples), **summary(samples)}


class Bench:
    """A manager plus a way to wait for a given status update."""

    def __init__(self, state_dir: str) -> None:
        self.updates: list[tuple[float, StatusUpdate]] = []
        self.changed = trio.Event()
        self.manager = ProcessManager(state_dir=state_dir, node_id="bench", on_status=self.record)

    def record(self, update: StatusUpdate) -> None:
        self.updates.append((time.perf_counter(), update))
        self.changed.set()
        self.changed = trio.Event()

    async def wait(
        self, instance_id: str, state: str, after: int = 0
    ) -> tuple[float, StatusUpdate]:
        while True:
            for at, update in self.updates[after:]:
                if update.instance_id == instance_id and update.state == state:
                    return at, update
            await self.changed.wait()

    async def stats(self) -> dict[str, Any]:
        return await self.manager.client.request("stats")


def _job(command: list[str], **fields: Any) -> JobSpec:
    # What the Conductor sends: the validated spec's typed job spec.
    return job_spec_from_dict(parse_spec({"config": {"command": command}, **fields}).to_dict())


async def spawn_to_running(bench: Bench, n: int) -> list[float]:
    samples = []
    for i in range(n):
        start = time.perf_counter()
        await bench.manager.start_instance(
            StartRequest(instance_id=f"lat-{i}", spec=_job(["sleep", "1000"]))
        )
        at, _ = await bench.wait(f"lat-{i}", "running")
        samples.append(at - start)
    for i in range(n):
        await bench.manager.stop_instance(f"lat-{i}")
    return samples


async def restart_after_kill(bench: Bench, n: int) -> list[float]:
    policy = {"type": "always", "backoff_seconds": 0}
    await bench.manager.start_instance(
        StartRequest(instance_id="re", spec=_job(["sleep", "1000"], restart_policy=policy))
    )
    _, running = await bench.wait("re", "running")
    samples = []
    for _ in range(n):
        mark = len(bench.updates)
        start = time.perf_counter()
        os.kill(running.pid, signal.SIGKILL)
        at, running = await bench.wait("re", "running", after=mark)
        samples.append(at - start)
    await bench.manager.stop_instance("re")
    return samples


async def many_jobs(bench: Bench, n: int) -> dict[str, float]:
    before = (await bench.stats())["rss_bytes"]
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for i in range(n):
            request = StartRequest(instance_id=f"many-{i}", spec=_job(["sleep", "1000"]))
            nursery.start_soon(bench.manager.start_instance, request)
    for i in range(n):
        await bench.wait(f"many-{i}", "running")
    elapsed = time.perf_counter() - start
    after = (await bench.stats())["rss_bytes"]
    start = time.perf_counter()
    await bench.manager.list_instances()
    report_ms = (time.perf_counter() - start) * 1000
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for i in range(n):
            nursery.start_soon(bench.manager.stop_instance, f"many-{i}")
    stop_elapsed = time.perf_counter() - start
    return {
        "jobs": n,
        "started_per_second": n / elapsed,
        "stopped_per_second": n / stop_elapsed,
        "list_instances_ms": report_ms,
        "monitor_rss_before_bytes": before,
        "monitor_rss_after_bytes": after,
        "monitor_bytes_per_job": (after - before) / n,
    }


async def run(jobs: int, samples: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as state_dir:
        bench = Bench(state_dir)
        async with trio.open_nursery() as nursery:
            await nursery.start(bench.manager.run)
            latency = await spawn_to_running(bench, samples)
            restart = await restart_after_kill(bench, samples)
            scale = await many_jobs(bench, jobs)
            await bench.manager.shutdown_monitor(kill_jobs=True)
            nursery.cancel_scope.cancel()
    return {
        "spawn_to_running_s": summary(latency),
        "restart_after_sigkill_s": summary(restart),
        "scale": scale,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--samples", type=int, default=50)
    args = parser.parse_args()
    raw = raw_spawn()
    results = trio.run(run, args.jobs, args.samples)
    raw_after = raw_spawn()
    ms = 1000.0
    latency, restart, scale = (
        results["spawn_to_running_s"],
        results["restart_after_sigkill_s"],
        results["scale"],
    )
    rows = [
        ["raw spawn+reap /bin/true (ms)", raw["median"] * ms, raw["p99"] * ms, ""],
        ["spawn -> running (ms)", latency["median"] * ms, latency["p99"] * ms, ""],
        [
            "restart after SIGKILL, backoff 0 (ms)",
            restart["median"] * ms,
            restart["p99"] * ms,
            "<= 10",
        ],
        ["raw /bin/true per second", raw["per_second"], "", ""],
        [f"jobs started per second ({scale['jobs']} at once)", scale["started_per_second"], "", ""],
        [f"jobs stopped per second ({scale['jobs']} at once)", scale["stopped_per_second"], "", ""],
        [f"list_instances with {scale['jobs']} jobs (ms)", scale["list_instances_ms"], "", ""],
        ["monitor RSS per job (KiB)", scale["monitor_bytes_per_job"] / 1024, "", "< 1024"],
        ["monitor RSS total (MiB)", scale["monitor_rss_after_bytes"] / 2**20, "", ""],
    ]
    print_table("Process layer", ["measure", "p50 / value", "p99", "target"], rows)
    path = write_json(
        "process",
        {"raw_spawn": raw, "raw_spawn_after": raw_after, **results},
    )
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
