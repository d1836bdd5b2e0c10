"""What one ``GET /live`` connect costs with many deployments: bytes and Conductor CPU.

    python -m benchmarks.live_connect                          # 10,000 deployments
    python -m benchmarks.live_connect --deployments 2000 --rounds 2
    python -m benchmarks.live_connect --base ../symphony-main  # the code before, alternating

A browser that opens the web UI receives a ``snapshot`` of every deployment first. This
opens ``/live`` (and ``/live?view=summary``), reads until that first message is complete,
and closes, against a Conductor in its own process (no node: every deployment stays
pending with its one instance). It reports the bytes of the message and the CPU time
(user + system, all threads) the Conductor spent from the request to the end of the
message: the first connect after a start (``cold``: the store read and every
deployment encoded) and the next ones (``warm``: the shared snapshot and its encoded
texts kept, as while other tabs are open).

Each deployment has a spec of a realistic size (a command of five arguments, four
environment variables, two labels, a capacity request, a restart policy). With
``--base``, the same measurement runs on the code in that directory too, the two
alternating round by round (A B A B), since other work on a shared machine changes
over minutes. The Conductor side runs this file by its path with ``PYTHONPATH`` set to
the code under test, so it needs nothing of this package. The result is JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

#: How long the Conductor's CPU must stay nearly still before a measurement starts.
SETTLE_WINDOW = 0.5
#: "Nearly still": less CPU than this in one window (seconds).
SETTLE_CPU = 0.01


def spec_of(n: int) -> dict[str, Any]:
    """A spec of the size a real one has (about 400 bytes as JSON)."""
    return {
        "name": f"live-{n:05d}",
        "node_group": "none",
        "capacity_requests": {"cpu": 50},
        "labels": {"team": f"team-{n % 7}", "tier": "batch"},
        "config": {
            "command": ["python3", "-u", "worker.py", "--shard", str(n)],
            "env": {"LOG_LEVEL": "info", "SHARD": str(n), "QUEUE": "jobs", "RETRIES": "3"},
        },
        "restart_policy": {"type": "on-failure", "backoff_seconds": 5},
    }


def make_store(path: Path, deployments: int) -> None:
    """The store file every server copies (made once, with the code under test)."""
    from symphony.conductor.store import Store
    from symphony.spec import parse_spec

    with Store.open(path) as store:
        specs = [parse_spec(spec_of(n)) for n in range(deployments)]
        for start in range(0, deployments, 500):
            store.create_deployments(specs[start : start + 500])


# --- the Conductor's side (run by path, with the code under test on PYTHONPATH) ----------


async def _serve(state: Path) -> None:
    import trio

    from symphony.conductor import run_conductor
    from symphony.config import ConductorConfig

    config = ConductorConfig(
        state_dir=state,
        listen_host="127.0.0.1",
        listen_port=0,
        http_host="127.0.0.1",
        http_port=0,
        http_auth="none",
    )
    async with trio.open_nursery() as nursery:
        info = await nursery.start(run_conductor, config)
        print(json.dumps({"http_url": info.http_url}), flush=True)


# --- the client's side ------------------------------------------------------------------


class Server:
    """A Conductor of the code in ``root`` on a copy of the store file."""

    def __init__(self, root: Path, store: Path, tmp: Path) -> None:
        state = tmp / "state"
        state.mkdir(mode=0o700)
        shutil.copy(store, state / "symphony.db")
        env = {**os.environ, "PYTHONPATH": str(root)}
        argv = [sys.executable, str(Path(__file__).resolve()), "--serve", str(state)]
        self.proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, env=env, cwd=tmp)
        assert self.proc.stdout is not None
        self.url = json.loads(self.proc.stdout.readline())["http_url"]

    def cpu(self) -> float:
        import psutil

        times = psutil.Process(self.proc.pid).cpu_times()
        return times.user + times.system

    def settle(self, limit: float = 120.0) -> None:
        """Wait until the start-up work (every deployment's pending instance) is done."""
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            before = self.cpu()
            time.sleep(SETTLE_WINDOW)
            if self.cpu() - before < SETTLE_CPU:
                return
        raise RuntimeError("the Conductor never went quiet")

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def connect(server: Server, path: str) -> dict[str, float]:
    """One connect: the snapshot's bytes, the Conductor's CPU and the wall time."""
    import httpx

    server.settle()
    cpu, began = server.cpu(), time.perf_counter()
    size = 0
    with httpx.stream("GET", server.url + path, timeout=120) as response:
        response.raise_for_status()
        buffer = bytearray()  # appended in place: no copy of megabytes per chunk
        for chunk in response.iter_bytes():
            start = max(0, len(buffer) - 1)
            buffer += chunk
            end = buffer.find(b"\n\n", start)
            if end >= 0:
                assert buffer.startswith(b"event: snapshot\n")
                size = end + 2
                break
    wall = time.perf_counter() - began
    time.sleep(0.2)  # the stream's close, counted too
    return {"bytes": size, "cpu_ms": (server.cpu() - cpu) * 1000, "wall_ms": wall * 1000}


def one_round(root: Path, store: Path, path: str, warm: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="live-connect-") as tmp:
        server = Server(root, store, Path(tmp))
        try:
            cold = connect(server, path)
            warms = [connect(server, path) for _ in range(warm)]
        finally:
            server.stop()
    return {"cold": cold, "warm": warms}


def _summary(rounds: list[dict[str, Any]]) -> dict[str, Any]:
    colds = [r["cold"] for r in rounds]
    warms = [w for r in rounds for w in r["warm"]]
    return {
        "bytes": colds[0]["bytes"],
        "cold_cpu_ms_median": statistics.median(c["cpu_ms"] for c in colds),
        "cold_cpu_ms": [round(c["cpu_ms"], 1) for c in colds],
        "warm_cpu_ms_median": statistics.median(w["cpu_ms"] for w in warms),
        "warm_cpu_ms_min_max": [min(w["cpu_ms"] for w in warms), max(w["cpu_ms"] for w in warms)],
        "cold_wall_ms_median": statistics.median(c["wall_ms"] for c in colds),
        "warm_wall_ms_median": statistics.median(w["wall_ms"] for w in warms),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.live_connect")
    parser.add_argument("--deployments", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3, help="server starts per variant")
    parser.add_argument("--warm", type=int, default=5, help="connects after the first")
    parser.add_argument("--base", type=Path, help="the code before, measured alternately")
    parser.add_argument("--base-path", default="/live", help="what the code before is asked")
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve is not None:
        import trio

        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
        trio.run(_serve, args.serve)
        return
    here = Path(__file__).resolve().parent.parent
    variants = [("full", here, "/live"), ("summary", here, "/live?view=summary")]
    if args.base is not None:
        variants.insert(0, ("base", args.base.resolve(), args.base_path))
    results: dict[str, list[dict[str, Any]]] = {name: [] for name, _, _ in variants}
    with tempfile.TemporaryDirectory(prefix="live-connect-store-") as tmp:
        store = Path(tmp) / "symphony.db"
        make_store(store, args.deployments)
        for _ in range(args.rounds):
            for name, root, path in variants:  # alternating: A B C A B C ...
                results[name].append(one_round(root, store, path, args.warm))
    load = os.getloadavg()
    out = {
        "deployments": args.deployments,
        "load_average": [round(x, 2) for x in load],
        "variants": {name: _summary(rounds) for name, rounds in results.items()},
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
