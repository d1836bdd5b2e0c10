"""Relayed streams against direct TCP, and heartbeats while a tunnel is saturated.

A Conductor and two nodes run as processes of their own on this machine (loopback). An
experiment's process on node ``nb`` serves a port (``benchmarks/_relay_procs.py``); a
process on node ``na`` connects to it with ``network: relay``, so its node opens a
tunnel listener. The benchmark then drives the same service two ways:

- **direct**: TCP to the service's port;
- **relayed**: TCP to the tunnel listener on ``na``: ``na`` -> Conductor -> ``nb``, two
  TLS hops, each its own connection beside the nodes' control links.

Figures: one stream's throughput (MB/s, ``--mb`` sent, acknowledged at the end), the
round trip of a 64-byte message (p50/p99), and the delay of the nodes' heartbeats (the
node stamps ``usage.sent_at``; the Conductor's ``last_heartbeat`` is when it took it)
while idle and while a relayed stream runs flat out.

Run: ``python -m benchmarks.relay`` (``--mb 512 --pings 2000``). Prints a table and
writes ``benchmarks/results/relay.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import trio

from benchmarks._report import print_table, summary, write_json

CHUNK = 256 * 1024


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    out = log.open("wb")
    return subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=out, env={**os.environ})


def _node_fields(info: dict[str, Any], node_id: str, state: Path, ports: str) -> dict[str, Any]:
    certs = Path(info["cert_dir"])
    return {
        "node_id": node_id,
        "conductor_host": "127.0.0.1",
        "conductor_port": info["node_port"],
        "groups": [node_id],
        "capacities_total": {"slots": 4},
        "heartbeat_sec": 0.2,
        "ca_file": str(certs / "ca.pem"),
        "cert_file": str(certs / "node-client.pem"),
        "key_file": str(certs / "node-client.key"),
        "state_dir": str(state),
        "ports": ports,
    }


def _experiment(env_file: Path) -> dict[str, Any]:
    service = f"exec {sys.executable} -m benchmarks._relay_procs service $SYMPH_SINK_PORT"
    return {
        "name": "bench",
        "network": "relay",
        "processes": [
            {"name": "service", "node_group": "nb", "binds": ["sink"], "cmds": [service]},
            {
                "name": "client",
                "node_group": "na",
                "connects": ["sink"],
                "cmds": [
                    f"env | grep ^SYMPH_ > {env_file}.tmp",
                    f"mv {env_file}.tmp {env_file}",
                    "exec sleep 100000",
                ],
            },
        ],
    }


async def _throughput(port: int, size: int, sent: list[int] | None = None) -> float:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    async with stream:
        began = time.perf_counter()
        await stream.send_all(b"S" + struct.pack(">Q", size))
        block = os.urandom(CHUNK)
        left = size
        while left > 0:
            piece = block if left >= CHUNK else block[:left]
            await stream.send_all(piece)
            left -= len(piece)
            if sent is not None:
                sent[0] += len(piece)
        ack = await stream.receive_some(1)
        assert ack == b"k", ack
        return size / (time.perf_counter() - began) / 1e6


async def _pings(port: int, count: int) -> list[float]:
    stream = await trio.open_tcp_stream("127.0.0.1", port)
    out = []
    async with stream:
        await stream.send_all(b"E")
        message = b"p" * 64
        for _ in range(count):
            began = time.perf_counter()
            await stream.send_all(message)
            got = b""
            while len(got) < len(message):
                data = await stream.receive_some(64)
                if not data:
                    raise ConnectionResetError("the stream ended (not served yet?)")
                got += data
            out.append((time.perf_counter() - began) * 1000)
    return out


async def _heartbeat_delays(http: httpx.AsyncClient, seconds: float) -> list[float]:
    """Delays (ms) of every heartbeat of na and nb seen during ``seconds``."""
    seen: dict[tuple[str, float], float] = {}
    end = trio.current_time() + seconds
    while trio.current_time() < end:
        for node in (await http.get("/nodes")).json()["nodes"]:
            sent = (node.get("usage") or {}).get("sent_at")
            taken = node.get("last_heartbeat")
            if isinstance(sent, float) and isinstance(taken, float):
                seen[(node["node_id"], sent)] = max(0.0, (taken - sent) * 1000)
        await trio.sleep(0.03)
    return list(seen.values())


async def _wait_for(check: Any, timeout: float, what: str) -> Any:
    with trio.move_on_after(timeout):
        while True:
            found = await check()
            if found:
                return found
            await trio.sleep(0.1)
    raise RuntimeError(f"{what} not ready in {timeout} s")


async def run(args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    conductor = _spawn(
        [sys.executable, "-m", "benchmarks._conductor_proc", "--state", str(tmp / "c"),
         "--log-level", "WARNING"],
        tmp / "conductor.log",
    )  # fmt: skip
    procs = [conductor]
    try:
        assert conductor.stdout is not None
        info = json.loads(conductor.stdout.readline())
        for k, node_id in enumerate(("na", "nb")):
            base = 41000 + 200 * k + (os.getpid() % 40) * 400
            fields = _node_fields(info, node_id, tmp / node_id, f"{base}-{base + 199}")
            argv = [sys.executable, "-m", "benchmarks._relay_procs", "node", json.dumps(fields)]
            procs.append(_spawn(argv, tmp / f"{node_id}.log"))
        async with httpx.AsyncClient(base_url=info["http_url"], timeout=30) as http:

            async def ready() -> bool:
                nodes = (await http.get("/nodes")).json()["nodes"]
                return sum(n["state"] == "ready" for n in nodes) == 2

            await _wait_for(ready, 60, "nodes")
            env_file = tmp / "client.env"
            answer = await http.post("/experiments", json=_experiment(env_file))
            assert answer.status_code == 201, answer.text

            async def env() -> dict[str, str] | None:
                if not env_file.exists():
                    return None
                return dict(line.split("=", 1) for line in env_file.read_text().splitlines())

            values = await _wait_for(env, 60, "the client process")
            relayed = int(values["SYMPH_SINK_PORT"])
            experiment = (await http.get("/experiments/bench")).json()
            (service,) = [p for p in experiment["processes"] if p["name"] == "service"]
            direct = int(service["ports"]["sink"])

            async def serving() -> bool:
                try:
                    return bool(await _pings(direct, 1)) and bool(await _pings(relayed, 1))
                except (OSError, trio.BrokenResourceError):
                    return False

            await _wait_for(serving, 60, "the service")
            size = args.mb * 1_000_000
            results: dict[str, Any] = {"mb": args.mb, "pings": args.pings}
            for name, port in (("direct", direct), ("relayed", relayed)):
                results[f"{name}_mb_per_s"] = summary(
                    [await _throughput(port, size) for _ in range(args.samples)]
                )
                results[f"{name}_rtt_ms"] = summary(await _pings(port, args.pings))
            results["heartbeat_idle_ms"] = summary(await _heartbeat_delays(http, 3.0))
            sent = [0]

            async def saturate() -> None:
                while True:
                    await _throughput(relayed, size, sent)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(saturate)
                await trio.sleep(0.5)
                began, at_start = trio.current_time(), sent[0]
                busy = await _heartbeat_delays(http, args.busy_seconds)
                rate = (sent[0] - at_start) / (trio.current_time() - began) / 1e6
                nursery.cancel_scope.cancel()
            results["heartbeat_saturated_ms"] = summary(busy)
            results["saturating_mb_per_s"] = rate
            tunnels = (await http.get("/tunnels")).json()["tunnels"]
            results["tunnel_rows"] = tunnels
            return results
    finally:
        for proc in reversed(procs):
            proc.terminate()
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
        _end_jobs(tmp)


def _end_jobs(tmp: Path) -> None:
    """The nodes' jobs and monitors outlive them by design: end those of this run (the
    processes whose command line or directory is in ``tmp``), by pid."""
    import psutil

    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        try:
            line = " ".join(proc.info["cmdline"] or ())
            mine = str(tmp) in line or (proc.info["cwd"] or "").startswith(str(tmp))
            if mine and proc.pid != os.getpid():
                proc.kill()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.relay")
    parser.add_argument("--mb", type=int, default=512, help="MB per throughput sample")
    parser.add_argument("--samples", type=int, default=3)
    parser.add_argument("--pings", type=int, default=2000)
    parser.add_argument("--busy-seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="symphony-relay-bench-") as tmp:
        results = trio.run(run, args, Path(tmp))
    rows = []
    for name in ("direct", "relayed"):
        rate, rtt = results[f"{name}_mb_per_s"], results[f"{name}_rtt_ms"]
        rows.append([name, rate["median"], rtt["median"], rtt["p99"]])
    print_table(
        "One stream on loopback",
        ["path", "MB/s (median)", "RTT p50 ms", "RTT p99 ms"],
        rows,
    )
    idle, busy = results["heartbeat_idle_ms"], results["heartbeat_saturated_ms"]
    print_table(
        "Heartbeat delay (node stamp -> Conductor); saturated: the tunnel carried "
        f"{results['saturating_mb_per_s']:.3g} MB/s meanwhile",
        ["while", "p50 ms", "p99 ms", "max ms", "n"],
        [
            ["idle", idle["median"], idle["p99"], idle["max"], idle["n"]],
            ["tunnel saturated", busy["median"], busy["p99"], busy["max"], busy["n"]],
        ],
    )
    path = write_json("relay", {k: v for k, v in results.items() if k != "tunnel_rows"})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
