"""Restart after SIGKILL: a job with ``restart_policy: always`` and backoff 0 is killed;
time from the kill to the restarted job's first line.

The PID killed is the one that wrote the previous line, so each sample is one real
crash and one real restart. The limit is the same job started with ``Popen``.

Target (issue "Process"): p50 <= 10 ms.
"""

from __future__ import annotations

import os
import signal
import time
from typing import Any

from ._context import Context, Harness
from ._figures import Figure, stats
from ._symphony import symphony_harness
from .launch import raw_launch

NAME = "restart"
TARGET_MS = 10.0


async def measure(h: Harness, params: dict[str, Any]) -> dict[str, Any]:
    name = "restart-job"
    await h.api.create(name, h.probe.command(name), backoff=0.0)
    line = await h.probe.wait_for(name, timeout=params.get("timeout", 60))
    samples = []
    for k in range(params["n"]):
        start = time.perf_counter()
        os.kill(line.pid, signal.SIGKILL)
        line = await h.probe.wait_for(name, count=k + 2, timeout=params.get("timeout", 60))
        samples.append(line.at - start)
    await h.api.settle(name)
    await h.api.delete(name)
    return {"restart_s": samples}


async def run(ctx: Context) -> list[Figure]:
    params = {"n": ctx.size(5, 50)}
    async with symphony_harness(ctx, NAME, nodes=1) as (h, _):
        ours = await measure(h, params)
        raw = await raw_launch(h.probe, params["n"])
    theirs, note = await ctx.run_peer(NAME, params)
    median = stats(ours["restart_s"], 1000)["median"]
    return [
        Figure(
            NAME,
            "restart: SIGKILL -> restarted job's first line (backoff 0)",
            "ms",
            stats(ours["restart_s"], 1000),
            peer=stats(theirs["restart_s"], 1000) if theirs else None,
            peer_note=note,
            limit=stats(raw, 1000),
            limit_label="same job via Popen",
            target=f"p50 <= {TARGET_MS:g} ms",
            met=median <= TARGET_MS,
        )
    ]
