"""The Conductor's CPU per API request, two code trees side by side, alternating.

``python -m benchmarks.api_cpu TREE_A TREE_B [--runs 6] [--block 200]``

Starts a Conductor from each tree (``benchmarks._conductor_proc`` run with that tree on
``PYTHONPATH``; no node, auth off on loopback), then for each run sends, to A then to B,
a block of ``POST /deployments`` from one client, a block of empty ``GET /healthz``, and
8 clients' ``GET /healthz`` at once; for each block the Conductor's CPU (user + system,
from ``/proc`` through psutil) divided by the requests, and the requests per second.
Alternating block by block keeps both sides under the same load on a shared machine:
compare the two columns, not these figures with a quiet run's.
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
from pathlib import Path

import psutil
import trio

from benchmarks.scenarios._rawhttp import RawHttp

SPEC = {"node_group": "none", "config": {"command": ["/bin/true"]}}


def start(tree: Path, state: Path) -> tuple[subprocess.Popen[bytes], str]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "benchmarks._conductor_proc",
            "--state",
            str(state),
            "--log-level",
            "WARNING",
        ],
        cwd=tree,
        env=env,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None
    return proc, json.loads(proc.stdout.readline())["http_url"]


async def block(url: str, pid: int, n: int, clients: int, post: str | None) -> tuple[float, float]:
    """CPU microseconds per request and requests per second over ``n`` requests."""
    conns = [await RawHttp.connect(url) for _ in range(clients)]
    todo = iter(range(n))

    async def client(http: RawHttp) -> None:
        for i in todo:
            if post is None:
                status, _ = await http.request("GET", "/healthz")
                assert status == 200
            else:
                body = json.dumps({**SPEC, "name": f"{post}-{i}"}).encode()
                status, answer = await http.request("POST", "/deployments", body)
                assert status == 201, answer

    proc = psutil.Process(pid)
    before = proc.cpu_times()
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for http in conns:
            nursery.start_soon(client, http)
    elapsed = time.perf_counter() - start
    after = proc.cpu_times()
    for http in conns:
        await http.aclose()
    cpu = (after.user - before.user) + (after.system - before.system)
    return cpu / n * 1e6, n / elapsed


async def measure(
    urls: list[str], pids: list[int], runs: int, n: int
) -> dict[str, list[list[float]]]:
    kinds = ("post_us", "post_per_s", "get_us", "get_per_s", "get8_us", "get8_per_s")
    out: dict[str, list[list[float]]] = {k: [[], []] for k in kinds}
    for run in range(runs):
        for side, (url, pid) in enumerate(zip(urls, pids, strict=True)):
            us, rate = await block(url, pid, n, 1, f"r{run}")
            out["post_us"][side].append(us)
            out["post_per_s"][side].append(rate)
        for side, (url, pid) in enumerate(zip(urls, pids, strict=True)):
            us, rate = await block(url, pid, n, 1, None)
            out["get_us"][side].append(us)
            out["get_per_s"][side].append(rate)
        for side, (url, pid) in enumerate(zip(urls, pids, strict=True)):
            us, rate = await block(url, pid, n * 4, 8, None)
            out["get8_us"][side].append(us)
            out["get8_per_s"][side].append(rate)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.api_cpu")
    parser.add_argument("trees", nargs=2, type=Path)
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--block", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        procs = []
        try:
            for i, tree in enumerate(args.trees):
                procs.append(start(tree.resolve(), Path(tmp) / f"c{i}"))
            urls = [url for _, url in procs]
            pids = [p.pid for p, _ in procs]
            result = trio.run(measure, urls, pids, args.runs, args.block)
        finally:
            for proc, _ in procs:
                proc.terminate()
                proc.wait(10)
    print(f"load average {os.getloadavg()}")
    for kind, (a, b) in result.items():
        print(f"{kind:12} A median {statistics.median(a):9.1f} {[round(x) for x in a]}")
        print(f"{'':12} B median {statistics.median(b):9.1f} {[round(x) for x in b]}")
    print(json.dumps(result))


if __name__ == "__main__":
    main()
