"""What an HTTP request costs below the API: the floors a create cannot go under.

    python -m benchmarks.http_floor [--requests 8000] [--rounds 3]

Each server runs in a process of its own and is sent the same ``POST /deployments``
(the body of a create) by 8 keep-alive clients of ``benchmarks.scenarios._rawhttp`` from
this process; each answers 201 with a JSON body the size of a create's answer, and does
nothing else. For each: requests per second, and the CPU per request of the server and
of the clients (user + system, from ``/proc`` through psutil), median of ``--rounds``
rounds, the servers taken in turn within each round so that all see the same load.

- ``trio socket``: a plain Trio TCP server that finds the end of each request and
  writes a prepared response: what Trio and the kernel's loopback cost.
- ``symphony.httpd``: the Conductor's HTTP server (h11 parsing, the ASGI cycle) with an
  ASGI app that answers at once: what every API request pays before any route runs.

On a machine of ``C`` cores, a Conductor that creates ``R`` deployments per second on
its one thread has at most ``1 / R`` seconds of CPU per create, of which the second row
is spent before any check, store or actor runs. Prints a table and writes
``benchmarks/results/http_floor.json``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any

import psutil
import trio

from benchmarks._report import print_table, write_json
from benchmarks.scenarios._rawhttp import RawHttp

CLIENTS = 8
REQUEST = json.dumps(
    {"name": "floor", "node_group": "default", "config": {"command": ["/bin/true"]}}
).encode()
#: About the size of a create's 201 body (a pending deployment and its spec).
ANSWER = json.dumps({"id": "0" * 26, "name": "floor", "padding": "x" * 700}).encode()
RESPONSE = (
    b"HTTP/1.1 201 Created\r\ncontent-type: application/json\r\n"
    b"content-length: %d\r\n\r\n" % len(ANSWER)
) + ANSWER
SERVERS = ("trio socket", "symphony.httpd")
ROOT = Path(__file__).resolve().parent.parent


async def _answer_raw(stream: trio.SocketStream) -> None:
    """Answer each request on ``stream`` with :data:`RESPONSE` (bodies by Content-Length)."""
    buffer = b""
    while data := await stream.receive_some(65536):
        buffer += data
        while (end := buffer.find(b"\r\n\r\n")) >= 0:
            length = 0
            for line in buffer[:end].split(b"\r\n"):
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            if len(buffer) < end + 4 + length:
                break
            buffer = buffer[end + 4 + length :]
            await stream.send_all(RESPONSE)


async def _asgi_app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """An ASGI app that reads the request's body and answers 201 with :data:`ANSWER`."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    while (await receive()).get("more_body"):
        pass
    headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(ANSWER))]
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": ANSWER})


async def _serve(kind: str) -> None:
    """Run one server on a free port of 127.0.0.1 and print its URL."""
    from symphony.httpd import serve

    async with trio.open_nursery() as nursery:
        if kind == "trio socket":
            listeners = await nursery.start(
                partial(trio.serve_tcp, _answer_raw, 0, host="127.0.0.1")
            )
            port = listeners[0].socket.getsockname()[1]
            url = f"http://127.0.0.1:{port}"
        else:
            never = trio.Event()
            urls = await nursery.start(
                partial(serve, _asgi_app, host="127.0.0.1", port=0, shutdown_trigger=never.wait)
            )
            url = urls[0]
        print(url, flush=True)


async def _block(url: str, server: psutil.Process, n: int) -> dict[str, float]:
    """``n`` requests from :data:`CLIENTS` connections: rate and CPU per request."""
    conns = [await RawHttp.connect(url) for _ in range(CLIENTS)]
    todo = iter(range(n))

    async def client(http: RawHttp) -> None:
        for _ in todo:
            status, _ = await http.request("POST", "/deployments", REQUEST)
            if status != 201:
                raise RuntimeError(f"the {url} server answered {status}")

    me = psutil.Process()
    cpu = [sum(server.cpu_times()[:2]), sum(me.cpu_times()[:2])]
    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for http in conns:
            nursery.start_soon(client, http)
    elapsed = time.perf_counter() - start
    server_s, client_s = sum(server.cpu_times()[:2]) - cpu[0], sum(me.cpu_times()[:2]) - cpu[1]
    for http in conns:
        await http.aclose()
    return {
        "per_s": n / elapsed,
        "server_us": 1e6 * server_s / n,
        "client_us": 1e6 * client_s / n,
    }


def _start(kind: str) -> tuple[subprocess.Popen[bytes], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks.http_floor", "--serve", kind],
        stdout=subprocess.PIPE,
        cwd=ROOT,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().decode().strip()


def measure(requests: int, rounds: int) -> dict[str, list[dict[str, float]]]:
    """Every server's blocks, ``rounds`` of each, the servers in turn within a round."""
    started = {kind: _start(kind) for kind in SERVERS}
    results: dict[str, list[dict[str, float]]] = {kind: [] for kind in SERVERS}
    try:
        for _ in range(rounds + 1):  # the first round warms up and is not kept
            for kind, (proc, url) in started.items():
                block = trio.run(_block, url, psutil.Process(proc.pid), requests)
                results[kind].append(block)
    finally:
        for proc, _ in started.values():
            proc.terminate()
            proc.wait()
            if proc.stdout is not None:
                proc.stdout.close()
    return {kind: blocks[1:] for kind, blocks in results.items()}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=8000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--serve", choices=SERVERS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.serve:
        trio.run(_serve, args.serve)
        return
    results = measure(args.requests, args.rounds)

    def median(kind: str, key: str) -> float:
        return statistics.median(block[key] for block in results[kind])

    print_table(
        f"POST answered 201 at once, {CLIENTS} clients (median of {args.rounds} rounds "
        f"of {args.requests:,})",
        ["server", "requests/s", "server CPU us/request", "client CPU us/request"],
        [
            (kind, median(kind, "per_s"), median(kind, "server_us"), median(kind, "client_us"))
            for kind in SERVERS
        ],
    )
    path = write_json("http_floor", {"requests": args.requests, "clients": CLIENTS, **results})
    print(f"\nwrote {path}")


if __name__ == "__main__":
    main()
