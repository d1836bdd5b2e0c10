"""Burst: 100 ``POST /deployments`` at once -> every job's first line written.

All creates are sent concurrently, each on a connection of its own opened at the start
(100 clients at once); the sample is the time from the first connect until the last of
the 100 jobs wrote its start line. Repeated, deleting everything in between. The
requests go through the lean client of ``_rawhttp``, for both orchestrators: httpx
spent about 4 ms of CPU per request here, 0.4 s per burst on the cores the
orchestrator under test needs. The limit beside it is the same 100 jobs started
directly with ``Popen``.

Target (issue "Ahead of the peer"): a burst of 100, every first line within 0.4 s.
"""

from __future__ import annotations

import json
import subprocess
import time
from typing import Any

import trio

from ._context import Context, Harness
from ._figures import Figure, stats
from ._probe import Probe
from ._rawhttp import RawHttp
from ._symphony import symphony_harness

NAME = "burst"
TARGET_S = 0.4


async def measure(h: Harness, params: dict[str, Any]) -> dict[str, Any]:
    samples = []
    for round_ in range(params["repeats"]):
        names = [f"burst-{round_}-{i}" for i in range(params["n"])]
        bodies = [json.dumps(h.api.create_body(n, h.probe.command(n))).encode() for n in names]
        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for name, body in zip(names, bodies, strict=True):
                nursery.start_soon(_create, h, name, body)
        last = await h.probe.wait_all(names, timeout=params.get("timeout", 60))
        samples.append(last - start)
        async with trio.open_nursery() as nursery:
            for name in names:
                nursery.start_soon(_settle_and_delete, h, name)
    return {"burst_s": samples}


async def _create(h: Harness, name: str, body: bytes) -> None:
    """One client: connect, POST one create, expect the API's success status."""
    async with await RawHttp.connect(h.api.url) as http:
        status, answer = await http.request("POST", "/deployments", body)
    if status != h.api.created_status:
        raise RuntimeError(f"POST /deployments -> {status}: {answer[:300]!r}")
    h.api.created(name, answer)


async def _settle_and_delete(h: Harness, name: str) -> None:
    await h.api.settle(name)
    await h.api.delete(name)


async def raw_burst(probe: Probe, n: int) -> float:
    """The limit: ``n`` jobs started back to back with ``Popen``, until all wrote."""
    names = [f"rawburst-{i}-{time.monotonic_ns()}" for i in range(n)]
    start = time.perf_counter()
    procs = [subprocess.Popen(probe.command(name), start_new_session=True) for name in names]
    last = await probe.wait_all(names)
    for proc in procs:
        proc.kill()
        proc.wait()
    return last - start


async def run(ctx: Context) -> list[Figure]:
    params = {"n": ctx.size(20, 100), "repeats": ctx.size(1, 3)}
    async with symphony_harness(ctx, NAME, nodes=1) as (h, _):
        ours = await measure(h, params)
        raw = [await raw_burst(h.probe, params["n"]) for _ in range(params["repeats"])]
    theirs, note = await ctx.run_peer(NAME, params)
    median = stats(ours["burst_s"])["median"]
    return [
        Figure(
            NAME,
            f"burst: {params['n']} POSTs -> all jobs' first lines",
            "s",
            stats(ours["burst_s"]),
            peer=stats(theirs["burst_s"]) if theirs else None,
            peer_note=note,
            limit=stats(raw),
            limit_label=f"{params['n']} jobs via Popen",
            target=f"<= {TARGET_S:g} s for 100" if not ctx.quick else "",
            met=(median <= TARGET_S) if not ctx.quick else None,
        )
    ]
