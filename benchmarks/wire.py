"""Wire benchmark: the mTLS WebSocket transport on loopback, server in another process.

Measures connect time (TCP + TLS 1.3 + WebSocket upgrade + hello round trip),
one-way throughput of small messages, batched throughput (50 status records per
frame) and round-trip latency. Prints a table and writes
``benchmarks/results/wire.json``.

    python benchmarks/wire.py [--messages 20000]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import trio

from symphony.pki import (
    client_ssl_context,
    ensure_conductor_pki,
    issue_node_certificate,
    make_node_key_and_csr,
    server_ssl_context,
    write_private_file,
)
from symphony.wire import (
    Heartbeat,
    Hello,
    InstanceStatus,
    NodeConnection,
    answer_hello,
    client_hello,
    connect_to_conductor,
    encode,
    receive_hello,
    serve_nodes,
)

RESULTS = Path(__file__).parent / "results" / "wire.json"


async def _echo(conn: NodeConnection) -> None:
    hello = await receive_hello(conn, timeout=5)
    await answer_hello(conn, hello, heartbeat_sec=5, node_timeout_sec=30)
    while True:
        got = await conn.receive()
        if isinstance(got, Heartbeat) and got.usage.get("echo"):
            await conn.send(got)


async def _serve(cert_dir: Path) -> None:
    pki = ensure_conductor_pki(cert_dir)
    async with trio.open_nursery() as nursery:
        port = await nursery.start(
            lambda task_status: serve_nodes(
                _echo,
                host="127.0.0.1",
                port=0,
                ssl_context=server_ssl_context(pki),
                task_status=task_status,
            )
        )
        print(port, flush=True)


def _node_context(cert_dir: Path):  # type: ignore[no-untyped-def]
    pki = ensure_conductor_pki(cert_dir)
    key_pem, csr_pem = make_node_key_and_csr("bench-node")
    (cert_dir / "bench.pem").write_bytes(issue_node_certificate(pki.ca, csr_pem, "bench-node"))
    key = cert_dir / "bench.key"
    if not key.exists():
        write_private_file(key, key_pem)
    return client_ssl_context(pki.ca_file, cert_dir / "bench.pem", key)


HELLO = Hello(protocol_version=1, node_id="bench-node", groups=("g",), capacities_total={"A": 100})
SMALL = Heartbeat(seq=1, usage={"cpu_percent": 12.5, "ram_used": 123456789, "ram_total": 10**10})
ECHO = Heartbeat(seq=2, usage={"echo": True})


async def _measure(port: int, ctx, n: int) -> dict[str, float]:  # type: ignore[no-untyped-def]
    connects = []
    for _ in range(20):
        start = time.perf_counter()
        async with connect_to_conductor("127.0.0.1", port, ctx, timeout=5) as conn:
            await client_hello(conn, HELLO, timeout=5)
            connects.append(time.perf_counter() - start)

    async with connect_to_conductor("127.0.0.1", port, ctx, timeout=5) as conn:
        await client_hello(conn, HELLO, timeout=5)
        start = time.perf_counter()
        for _ in range(n):
            await conn.send(SMALL)
        await conn.send(ECHO)
        await conn.receive()
        one_way = n / (time.perf_counter() - start)

        status = InstanceStatus(
            instance_id="inst-000001",
            deployment_id="dep-01",
            state="running",
            pid=4242,
            restarts=0,
            cpu_percent=1.5,
            rss_bytes=10**8,
            at=time.time(),
        )
        batch = [status] * 50
        frames = max(1, n // 50)
        start = time.perf_counter()
        for _ in range(frames):
            await conn.send(batch)
        await conn.send(ECHO)
        await conn.receive()
        batched = frames * 50 / (time.perf_counter() - start)

        rtts = []
        for _ in range(min(n, 3000)):
            start = time.perf_counter()
            await conn.send(ECHO)
            await conn.receive()
            rtts.append(time.perf_counter() - start)
    rtts.sort()
    return {
        "small_message_bytes": len(encode(SMALL)),
        "one_way_msgs_per_s": round(one_way),
        "batched_records_per_s": round(batched),
        "batch_frame_bytes": len(encode(batch)),
        "rtt_p50_ms": round(statistics.median(rtts) * 1000, 3),
        "rtt_p99_ms": round(rtts[int(len(rtts) * 0.99)] * 1000, 3),
        "connect_p50_ms": round(statistics.median(connects) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--messages", type=int, default=20000)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        trio.run(_serve, args.serve)
        return
    with tempfile.TemporaryDirectory() as tmp:
        cert_dir = Path(tmp) / "certs"
        ctx = _node_context(cert_dir)
        server = subprocess.Popen(
            [sys.executable, __file__, "--serve", str(cert_dir)], stdout=subprocess.PIPE, text=True
        )
        try:
            port = int(server.stdout.readline())  # type: ignore[union-attr]
            result = trio.run(_measure, port, ctx, args.messages)
        finally:
            server.terminate()
            server.wait(5)
    result |= {"python": platform.python_version(), "machine": platform.machine()}
    width = max(map(len, result))
    print(f"{'metric':<{width}}  value")
    for key, value in result.items():
        print(f"{key:<{width}}  {value}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
