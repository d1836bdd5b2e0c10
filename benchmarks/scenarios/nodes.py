"""Nodes held at 3 s heartbeats (100 / 1,000 / 5,000): Conductor CPU and RSS, and the
time for the whole fleet to reconnect after a Conductor SIGKILL and restart.

This wraps ``benchmarks/nodes.py`` (simulated nodes: real mTLS WebSockets, real hellos
and heartbeats, from one process; the Conductor in another). Limits beside the figures,
from the ``limits`` scenario of the same run: for CPU, the share of one core the raw
mTLS WebSocket needs just to receive that many heartbeats per second; for reconnect,
``nodes x TLS connect time / cores`` (every handshake, perfectly spread over the cores).

Targets (the "ahead of the peer" issue): 5,000 nodes at <= 35% of one core, reconnected
within 30 s after a Conductor restart with no node lost meanwhile.
"""

from __future__ import annotations

import argparse
import os
import traceback

from benchmarks import nodes as scale
from benchmarks.simnode import raise_nofile_limit

from ._context import Context
from ._figures import Figure, one

NAME = "nodes"
NOTE = "peer: no node simulator for its gRPC protocol; not measured"


async def run(ctx: Context) -> list[Figure]:
    raise_nofile_limit()
    sizes = [50] if ctx.quick else [100, 1000, 5000]
    args = argparse.Namespace(
        heartbeat=3.0,
        timeout=300.0,
        window=ctx.size(2, 15),
        settle=ctx.size(1, 5),
    )
    workdir = ctx.workdir / NAME
    workdir.mkdir(parents=True, exist_ok=True)
    figures = []
    cores = os.cpu_count() or 1
    for n in sizes:
        try:
            r = await scale.run_scale(n, args, workdir)
        except Exception:  # one fleet size failing must not lose the others' figures
            ctx.partial_failures[f"{NAME}[{n}]"] = traceback.format_exc()[-3000:]
            print(f"  {n:,} nodes: FAILED (see the JSON's failures)", flush=True)
            continue
        ws = ctx.limits.get("ws_msgs_per_s", {}).get("median")
        tls = ctx.limits.get("tls_connect_ms", {}).get("median")
        cpu_target = n == scale.CPU_TARGET[0]
        reconnect_target = n == scale.RECONNECT_TARGET[0]
        if "cpu_percent" not in r:  # the fleet never was all up within the timeout
            figures.append(
                Figure(
                    NAME,
                    f"{n:,} nodes: links up when the {args.timeout:g} s timeout hit",
                    "nodes",
                    one(r.get("connected_at_timeout", 0)),
                    "higher",
                    peer_note=NOTE,
                    target=f"all {n:,}",
                    met=False,
                    extra=r,
                )
            )
            continue
        figures += [
            Figure(
                NAME,
                f"{n:,} nodes at 3 s heartbeats: conductor CPU",
                "% core",
                one(r["cpu_percent"]),
                peer_note=NOTE,
                limit=one(100.0 * (n / args.heartbeat) / ws) if ws else None,
                limit_label="raw wss receive of the heartbeats",
                target=f"<= {scale.CPU_TARGET[1]:g}%" if cpu_target else "",
                met=(r["cpu_percent"] <= scale.CPU_TARGET[1]) if cpu_target else None,
                extra={"per_second": r["cpu_percent_per_second"]},
            ),
            Figure(NAME, f"{n:,} nodes: conductor RSS", "MiB", one(r["rss_mib"]), peer_note=NOTE),
        ]
        reconnect = r.get("reconnect_seconds")
        figures.append(
            Figure(
                NAME,
                f"{n:,} nodes: all ready after conductor restart"
                + ("" if reconnect is not None else f" (NOT within {args.timeout:g} s)"),
                "s",
                one(reconnect if reconnect is not None else args.timeout),
                peer_note=NOTE,
                limit=one(n * tls / 1000 / cores) if tls else None,
                limit_label="nodes x TLS connect / cores",
                target=f"<= {scale.RECONNECT_TARGET[1]:g} s" if reconnect_target else "",
                met=(reconnect is not None and reconnect <= scale.RECONNECT_TARGET[1])
                if reconnect_target
                else None,
                extra={k: v for k, v in r.items() if k != "cpu_percent_per_second"},
            )
        )
    return figures
