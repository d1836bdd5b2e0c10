"""``symphony ps`` wall time: the whole command, process start to exit, against a
Conductor with 10,000 deployments (quick: 50). The limit is ``python -c pass``: what
starting any Python command costs on this machine. The peer has no CLI."""

from __future__ import annotations

import subprocess
import sys
import time

from ._context import Context
from ._figures import Figure, stats
from ._symphony import symphony_harness
from .api_list import measure as create_and_list

NAME = "ps"
#: The issue's line: the whole command, interpreter start included, with 10,000 deployments.
TARGET_MS = 300.0


def wall(cmd: list[str], repeats: int) -> list[float]:
    samples = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        samples.append(time.perf_counter() - start)
    return samples


async def run(ctx: Context) -> list[Figure]:
    n, repeats = ctx.size(50, 10_000), ctx.size(3, 10)
    async with symphony_harness(ctx, NAME, nodes=0) as (h, cluster):
        await create_and_list(h, {"n": n, "repeats": 1})
        cmd = [sys.executable, "-m", "symphony.cli", "ps", "--conductor", cluster.http_url]
        ours = wall(cmd, repeats)
    raw = wall([sys.executable, "-c", "pass"], repeats)
    return [
        Figure(
            NAME,
            f"symphony ps wall time ({n:,} deployments)",
            "ms",
            stats(ours, 1000),
            peer_note="peer: has no command-line client",
            limit=stats(raw, 1000),
            limit_label="python -c pass",
            target=f"<= {TARGET_MS:g} ms" if not ctx.quick else "",
            met=stats(ours, 1000)["median"] <= TARGET_MS if not ctx.quick else None,
        )
    ]
