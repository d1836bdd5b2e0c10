"""Run a Conductor in its own process for the node-scale benchmark.

``python -m benchmarks._conductor_proc --state DIR [--node-port P] [--http-port Q]``

It listens on 127.0.0.1 (ports 0 pick free ones), logs to stderr, and prints exactly
one JSON line on stdout once serving: ``{"pid", "node_port", "http_url", "cert_dir"}``.
That line is how the benchmark learns the ports, so it can restart the Conductor on
the same ones. ``--profile FILE`` runs it under cProfile and writes the stats to FILE
on SIGTERM or SIGINT (a SIGKILL leaves no profile, by nature).
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

from benchmarks.simnode import raise_nofile_limit
from symphony.conductor import run_conductor
from symphony.config import ConductorConfig
from symphony.logs import setup_logging


async def serve(config: ConductorConfig) -> None:
    """Run the Conductor until SIGTERM/SIGINT, after printing where it listens."""
    with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
        async with trio.open_nursery() as nursery:
            info = await nursery.start(run_conductor, config)
            line = {
                "pid": os.getpid(),
                "node_port": info.node_port,
                "http_url": info.http_url,
                "cert_dir": str(info.cert_dir),
            }
            print(json.dumps(line), flush=True)
            async for _ in signals:
                nursery.cancel_scope.cancel()
                break


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._conductor_proc")
    parser.add_argument("--state", type=Path, required=True)
    parser.add_argument("--node-port", type=int, default=0)
    parser.add_argument("--http-port", type=int, default=0)
    parser.add_argument("--log-level", default="INFO")
    parser.add_argument("--profile", type=Path, default=None)
    args = parser.parse_args(argv)
    raise_nofile_limit()  # one socket per node link
    setup_logging(args.log_level, stream=sys.stderr)
    config = ConductorConfig(
        state_dir=args.state,
        listen_host="127.0.0.1",
        listen_port=args.node_port,
        http_host="127.0.0.1",
        http_port=args.http_port,
        http_auth="none",
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
