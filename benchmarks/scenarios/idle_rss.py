"""Idle memory: resident set of the Conductor and of one Node (agent plus its node
monitor), started fresh, connected, with no job, after a short settle. The peer's are
measured the same way (its node is one process)."""

from __future__ import annotations

from typing import Any

import trio

from ._context import Context, Harness
from ._figures import Figure, stats
from ._symphony import symphony_harness

NAME = "idle_rss"
MIB = 1 << 20


async def measure(h: Harness, params: dict[str, Any]) -> dict[str, Any]:
    await trio.sleep(params["settle"])
    samples = []
    for _ in range(params["samples"]):
        samples.append(h.rss())
        await trio.sleep(0.2)
    return {
        "conductor_mib": [s["conductor"] / MIB for s in samples],
        "node_mib": [s["node"] / MIB for s in samples],
    }


async def run(ctx: Context) -> list[Figure]:
    params = {"settle": ctx.size(1, 5), "samples": ctx.size(3, 10), "nodes": 1}
    async with symphony_harness(ctx, NAME, nodes=1) as (h, _):
        ours = await measure(h, params)
    theirs, note = await ctx.run_peer(NAME, params)
    return [
        Figure(
            NAME,
            f"idle RSS: {who}",
            "MiB",
            stats(ours[key]),
            peer=stats(theirs[key]) if theirs else None,
            peer_note=note,
        )
        for who, key in (("conductor", "conductor_mib"), ("node (agent + monitor)", "node_mib"))
    ]
