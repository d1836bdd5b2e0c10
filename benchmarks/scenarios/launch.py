"""Launch latency: ``POST /deployments`` -> the job's first line written, 50 in a row.

Each deployment is created, timed until its job writes its start line (see ``_probe``),
then deleted before the next, so every sample starts from the same idle cluster. The
limit beside it is the same job started directly with ``subprocess.Popen`` and timed to
the same line: what any orchestrator must pay at least.

Target (issue "Scheduling"): POST -> process running, p50 <= 15 ms for a single job.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

from ._context import Context, Harness
from ._figures import Figure, stats
from ._probe import Probe
from ._symphony import symphony_harness

NAME = "launch"
TARGET_MS = 15.0


async def measure(h: Harness, params: dict[str, Any]) -> dict[str, Any]:
    """``n`` sequential create -> first line -> delete; seconds per sample."""
    samples, accepted = [], []
    for i in range(params["n"]):
        name = f"launch-{i}"
        start = time.perf_counter()
        await h.api.create(name, h.probe.command(name))
        accepted.append(time.perf_counter() - start)
        line = await h.probe.wait_for(name, timeout=params.get("timeout", 60))
        samples.append(line.at - start)
        await h.api.settle(name)
        await h.api.delete(name)
    return {"launch_s": samples, "accepted_s": accepted}


async def raw_launch(probe: Probe, n: int) -> list[float]:
    """The limit: the same job started by ``Popen`` directly, timed to its line."""
    samples = []
    for i in range(n):
        name = f"raw-{i}-{time.monotonic_ns()}"
        start = time.perf_counter()
        proc = subprocess.Popen(probe.command(name), start_new_session=True)
        line = await probe.wait_for(name)
        samples.append(line.at - start)
        proc.kill()
        proc.wait()
    return samples


async def run(ctx: Context) -> list[Figure]:
    params = {"n": ctx.size(5, 50)}
    async with symphony_harness(ctx, NAME, nodes=1) as (h, _cluster):
        ours = await measure(h, params)
        raw = await raw_launch(h.probe, params["n"])
    theirs, note = await ctx.run_peer(NAME, {**params, "timeout": 30})
    median = stats(ours["launch_s"], 1000)["median"]
    return [
        Figure(
            NAME,
            "launch: POST -> job's first line (sequential)",
            "ms",
            stats(ours["launch_s"], 1000),
            peer=stats(theirs["launch_s"], 1000) if theirs else None,
            peer_note=note,
            limit=stats(raw, 1000),
            limit_label="same job via Popen",
            target=f"p50 <= {TARGET_MS:g} ms",
            met=median <= TARGET_MS,
        ),
        Figure(
            NAME,
            "launch: POST answered (201)",
            "ms",
            stats(ours["accepted_s"], 1000),
            peer=stats(theirs["accepted_s"], 1000) if theirs else None,
            peer_note=note,
        ),
    ]


__all__ = ["NAME", "measure", "raw_launch", "run"]
