"""Run a Conductor in its own process for the node-scale benchmark.

``python -m benchmarks._conductor_proc --state DIR [--node-port P] [--http-port Q]
[--store-url URL]``

It listens on 127.0.0.1 (ports 0 pick free ones), logs to stderr, and prints exactly
one JSON line on stdout once serving: ``{"pid", "node_port", "http_url", "cert_dir"}``.
That line is how the benchmark learns the ports, so it can restart the Conductor on
the same ones. ``--profile FILE`` runs it under cProfile and writes the stats to FILE
on SIGTERM or SIGINT (a SIGKILL leaves no profile, by nature).

On SIGUSR1 it prints another JSON line, ``{"gc": {...}}``: the CPU seconds spent in
Python's cyclic garbage collector so far, per generation, and how many objects it
tracks. Past a few thousand links the collector is a large share of the Conductor's
CPU; this is how the benchmark shows it.
"""

from __future__ import annotations

import argparse
import cProfile
import json
import os
import signal
import sys
from pathlib import Path

import trio

from benchmarks._gcclock import GcClock
from benchmarks.simnode import raise_nofile_limit
from symphony.conductor import run_conductor
from symphony.conductor.collector import collect_rarely
from symphony.config import ConductorConfig
from symphony.logs import setup_logging


async def serve(config: ConductorConfig) -> None:
    """Run the Conductor until SIGTERM/SIGINT, after printing where it listens."""
    gc_clock = GcClock()
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT, signal.SIGUSR1) as signals:
        async with trio.open_nursery() as nursery:
            info = await nursery.start(run_conductor, config)
            line = {
                "pid": os.getpid(),
                "node_port": info.node_port,
                "http_url": info.http_url,
                "cert_dir": str(info.cert_dir),
            }
            print(json.dumps(line), flush=True)
            async for signum in signals:
                if signum == signal.SIGUSR1:
                    print(json.dumps({"gc": gc_clock.report()}), flush=True)
                    continue
                nursery.cancel_scope.cancel()
                break


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._conductor_proc")
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--node-port", type=int, default=0)
    parser.add_argument("--http-port", type=int, default=0)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--profile", type=Path, default=None)
    parser.add_argument("--store-url", default=None, help="conductor.store.url")
    parser.add_argument(
        "--cpython-gc",
        action="store_true",
        help="keep CPython's collector thresholds (symphony conductor raises the oldest)",
    )
    args = parser.parse_args(argv)
    if not args.cpython_gc:
        collect_rarely()  # as `symphony conductor` does
    raise_nofile_limit()  # one socket per node link
    setup_logging(args.log_level, stream=sys.stderr)
    config = ConductorConfig(
        state_dir=args.state,
        listen_host="127.0.0.1",
        listen_port=args.node_port,
        http_host="127.0.0.1",
        http_port=args.http_port,
        relay_port=0,  # a free one: not the HTTP port + 1, which may be taken
        http_auth="none",
        store_url=args.store_url,
    )
    if args.profile is None:
        trio.run(serve, config)
        return
    profiler = cProfile.Profile()
    profiler.enable()
    try:
        trio.run(serve, config)
    finally:
        profiler.disable()
        profiler.dump_stats(args.profile)


if __name__ == "__main__":
    main()
