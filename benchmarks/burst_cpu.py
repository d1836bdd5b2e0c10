"""Where a burst's CPU goes: each process's CPU per burst of 100 creates, and its timeline.

The ``burst`` scenario's wall figure (100 ``POST /deployments`` at once -> the last job's
first line) moves with whatever else runs on the machine. This runs the same bursts on
a real cluster (a Conductor, one node) and reports what load does not change much: the
CPU each process spent during each burst, from the scheduler's nanosecond totals
(``/proc/PID/task/*/schedstat``, every thread): the Conductor, the node agent, its
monitor, the loggers and the jobs (the monitor's children, told apart by name), and this
process, whose lean HTTP client sends the creates. Beside it, when the 201s and the
first lines came (the first, the median, the last), so that the time the creates took
can be told from the time the node took after them. A burst is CPU-bound when the sum
of the CPU over the number of cores comes near its wall time.

Run: ``python -m benchmarks.burst_cpu`` (``--bursts 6 --size 100``). Prints one line per
burst, then the medians, with the load average; writes
``benchmarks/results/burst_cpu.json``.
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

import psutil
import trio

from benchmarks._report import write_json
from benchmarks.scenarios._api import SymphonyApi
from benchmarks.scenarios._cluster import Cluster
from benchmarks.scenarios._probe import Probe
from benchmarks.scenarios._rawhttp import RawHttp

#: The jobs' own processes (``sh`` that becomes ``sleep``): the rest of the monitor's
#: children are loggers.
JOB_NAMES = frozenset({"sh", "sleep"})


def cpu_s(pid: int) -> float:
    """The process's CPU seconds so far, every thread (0 if it is gone)."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0.0
    for task in tasks:
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except OSError:
            pass
    return total / 1e9


class Processes:
    """The cluster's processes, found once the node is up."""

    def __init__(self, cluster: Cluster) -> None:
        assert cluster.conductor is not None
        self.conductor = cluster.conductor.pid
        self.agent = cluster.nodes["node-0"].pid
        self.monitor = 0
        for proc in cluster.node_tree("node-0"):
            try:
                if proc.pid != self.agent and "monitor_server" in " ".join(proc.cmdline()):
                    self.monitor = proc.pid
            except psutil.Error:
                continue

    def cpu(self) -> dict[str, float]:
        """CPU seconds so far of each part; the loggers and jobs alive now only (a
        burst's are born during it and live on until it is deleted)."""
        loggers = jobs = 0.0
        try:
            children = psutil.Process(self.monitor).children(recursive=True)
        except psutil.Error:
            children = []
        for child in children:
            try:
                is_job = child.name() in JOB_NAMES
            except psutil.Error:
                continue
            if is_job:
                jobs += cpu_s(child.pid)
            else:
                loggers += cpu_s(child.pid)
        return {
            "conductor": cpu_s(self.conductor),
            "agent": cpu_s(self.agent),
            "monitor": cpu_s(self.monitor),
            "loggers": loggers,
            "jobs": jobs,
            "client": cpu_s(os.getpid()),
        }


async def one_burst(
    api: SymphonyApi, probe: Probe, procs: Processes, index: int, size: int
) -> dict[str, Any]:
    """``size`` creates at once; the CPU of each part and the timeline, then all deleted."""
    names = [f"cpu-{index}-{i}" for i in range(size)]
    bodies = [json.dumps(api.create_body(n, probe.command(n))).encode() for n in names]
    answered: list[float] = []

    async def create(body: bytes) -> None:
        async with await RawHttp.connect(api.url) as http:
            status, answer = await http.request("POST", "/deployments", body)
        if status != 201:
            raise RuntimeError(f"POST /deployments -> {status}: {answer[:300]!r}")
        answered.append(time.perf_counter())

    before = procs.cpu()
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for body in bodies:
            nursery.start_soon(create, body)
    last = await probe.wait_all(names)
    after = procs.cpu()
    lines = sorted(probe.lines[n][0].at - start for n in names)
    created = sorted(a - start for a in answered)
    cpu = {k: after[k] - before[k] for k in before}
    row: dict[str, Any] = {
        "wall_s": last - start,
        "first_201_s": created[0],
        "median_201_s": created[len(created) // 2],
        "last_201_s": created[-1],
        "first_line_s": lines[0],
        "median_line_s": lines[len(lines) // 2],
        "cpu_s": {**cpu, "all": sum(cpu.values())},
        "load": os.getloadavg()[0],
    }
    async with trio.open_nursery() as nursery:
        for name in names:
            nursery.start_soon(_settle_and_delete, api, name)
    return row


async def _settle_and_delete(api: SymphonyApi, name: str) -> None:
    await api.settle(name)
    await api.delete(name)


def _line(row: dict[str, Any]) -> str:
    times = ", ".join(
        f"{k[:-2]} {v:.3f}" for k, v in row.items() if k.endswith("_s") and k != "cpu_s"
    )
    cpu = ", ".join(f"{k} {v:.3f}" for k, v in row["cpu_s"].items())
    return f"{times} | CPU s: {cpu} | load {row['load']:.2f}"


async def run(bursts: int, size: int) -> list[dict[str, Any]]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        cluster = Cluster(Path(tmp))
        api = SymphonyApi(cluster.http_url)
        try:
            await cluster.start(nodes=1)
            procs = Processes(cluster)
            async with Probe(Path(tmp) / "probe.fifo") as probe:
                try:
                    for index in range(bursts + 1):
                        row = await one_burst(api, probe, procs, index, size)
                        if index:  # the first warms up (imports, first forks)
                            rows.append(row)
                            print(_line(row), flush=True)
                        await trio.sleep(0.5)
                finally:
                    probe.kill_all()
        finally:
            await api.aclose()
            cluster.stop()
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bursts", type=int, default=6)
    parser.add_argument("--size", type=int, default=100)
    args = parser.parse_args()
    rows = trio.run(run, args.bursts, args.size)
    median: dict[str, Any] = {
        k: statistics.median(r[k] for r in rows) for k in rows[0] if k != "cpu_s"
    }
    median["cpu_s"] = {k: statistics.median(r["cpu_s"][k] for r in rows) for k in rows[0]["cpu_s"]}
    print("median: " + _line(median))
    write_json("burst_cpu", {"bursts": rows, "median": median})


if __name__ == "__main__":
    main()
