"""Creates: ``POST /deployments`` from 8 concurrent clients, and one client alone.

A Conductor with no node (every deployment stays pending, as in ``api_list``) is sent
``n`` creates by 8 clients at once, each on its own keep-alive connection; the figure is
creates per second over the whole round, and every POST's time until its 201. Then one
client sends creates one after another: the time a single POST takes to be answered.
Both are driven by the lean client of ``_rawhttp`` so that the load generator's own CPU
(httpx costs about what a fast server does per request) does not cap the server.

Symphony alone also takes the same creates as ``POST /deployments:batch`` of
:data:`BATCH` deployments each, 8 clients at once: deployments per second.

The limit beside Symphony's figures is its own HTTP stack (its server and Quart-Trio, with
the API's checks before every request) answering ``GET /healthz``, which does nothing: the
same clients, the same connections, the same counts. No create can be cheaper than that;
the gap between the two is what storing, supervising and placing a deployment costs.

Targets (issue "Ahead of the peer"): >= 5x the peer's creates/s with 8 clients; a POST
answered in p50 <= 3 ms.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import trio

from ._context import Context, Harness
from ._figures import Figure, stats
from ._rawhttp import RawHttp
from ._symphony import symphony_harness

NAME = "creates"
CLIENTS = 8
BATCH = 50
RATE_TARGET = 5.0  # times the peer's
POST_TARGET_MS = 3.0
FLOOR = "empty GET, same server"


async def _round(
    h: Harness, names: list[str], clients: int, *, empty: bool = False
) -> tuple[float, list[float]]:
    """``names`` created by ``clients`` concurrent connections: (creates/s, POST times).
    With ``empty``, as many ``GET /healthz`` instead (the limit)."""
    todo = iter(names)
    took: list[float] = []

    async def client(http: RawHttp) -> None:
        for name in todo:
            if empty:
                method, path, body, expected = "GET", "/healthz", b"", 200
            else:
                method, path, expected = "POST", "/deployments", h.api.created_status
                body = json.dumps(h.api.create_body(name, ["/bin/true"])).encode()
            start = time.perf_counter()
            status, answer = await http.request(method, path, body)
            took.append(time.perf_counter() - start)
            if status != expected:
                raise RuntimeError(f"{method} {path} -> {status}: {answer[:300]!r}")

    conns = [await RawHttp.connect(h.api.url) for _ in range(clients)]
    try:
        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for http in conns:
                nursery.start_soon(client, http)
        elapsed = time.perf_counter() - start
    finally:
        for http in conns:
            await http.aclose()
    return len(names) / elapsed, took


async def measure(h: Harness, params: dict[str, Any]) -> dict[str, Any]:
    n, rates, concurrent, alone = params["n"], [], [], []
    for r in range(params["repeats"]):
        rate, took = await _round(h, [f"c{r}-{i:05d}" for i in range(n)], CLIENTS)
        rates.append(rate)
        concurrent.extend(took)
        _, took = await _round(h, [f"s{r}-{i:05d}" for i in range(params["single"])], 1)
        alone.extend(took)
    return {"create_per_s": rates, "post_s": concurrent, "single_post_s": alone}


async def http_floor(h: Harness, params: dict[str, Any]) -> dict[str, Any]:
    """The limit: the same rounds as :func:`measure`, each request an empty one."""
    n, rates, alone = params["n"], [], []
    for _ in range(params["repeats"]):
        rate, _ = await _round(h, [""] * n, CLIENTS, empty=True)
        rates.append(rate)
        _, took = await _round(h, [""] * params["single"], 1, empty=True)
        alone.extend(took)
    return {"per_s": rates, "single_s": alone}


async def batch_rate(h: Harness, params: dict[str, Any]) -> list[float]:
    """Symphony's ``POST /deployments:batch``: deployments per second, 8 clients."""
    rates = []
    for r in range(params["repeats"]):
        names = [f"b{r}-{i:05d}" for i in range(params["n"])]
        chunks = iter([names[i : i + BATCH] for i in range(0, len(names), BATCH)])
        conns = [await RawHttp.connect(h.api.url) for _ in range(CLIENTS)]
        start = time.perf_counter()
        async with trio.open_nursery() as nursery:
            for http in conns:
                nursery.start_soon(_batches, h, http, chunks)
        rates.append(len(names) / (time.perf_counter() - start))
        for http in conns:
            await http.aclose()
    return rates


async def _batches(h: Harness, http: RawHttp, chunks: Iterator[list[str]]) -> None:
    for chunk in chunks:
        items = [h.api.create_body(name, ["/bin/true"]) for name in chunk]
        body = json.dumps({"deployments": items}).encode()
        status, answer = await http.request("POST", "/deployments:batch", body)
        if status != 201:
            raise RuntimeError(f"POST /deployments:batch -> {status}: {answer[:300]!r}")


async def run(ctx: Context) -> list[Figure]:
    params = {
        "n": ctx.size(50, 1000),
        "single": ctx.size(10, 200),
        "repeats": ctx.size(1, 3),
        "nodes": 0,
    }
    async with symphony_harness(ctx, NAME, nodes=0) as (h, _):
        ours = await measure(h, params)
        batched = await batch_rate(h, params)
        floor = await http_floor(h, params)
    theirs, note = await ctx.run_peer(NAME, params)
    rate = stats(ours["create_per_s"])
    single = stats(ours["single_post_s"], 1000)
    peer_rate = stats(theirs["create_per_s"]) if theirs else None
    full = not ctx.quick
    return [
        Figure(
            NAME,
            f"POST /deployments: creates/s, {CLIENTS} clients ({params['n']:,} per round, no node)",
            "per s",
            rate,
            "higher",
            peer=peer_rate,
            peer_note=note,
            limit=stats(floor["per_s"]),
            limit_label=FLOOR,
            target=f">= {RATE_TARGET:g}x the peer" if full else "",
            met=(rate["median"] >= RATE_TARGET * peer_rate["median"])
            if full and peer_rate
            else None,
        ),
        Figure(
            NAME,
            f"POST /deployments answered (201), {CLIENTS} clients at once",
            "ms",
            stats(ours["post_s"], 1000),
            peer=stats(theirs["post_s"], 1000) if theirs else None,
            peer_note=note,
        ),
        Figure(
            NAME,
            "POST /deployments answered (201), one client",
            "ms",
            single,
            peer=stats(theirs["single_post_s"], 1000) if theirs else None,
            peer_note=note,
            limit=stats(floor["single_s"], 1000),
            limit_label=FLOOR,
            target=f"p50 <= {POST_TARGET_MS:g} ms" if full else "",
            met=(single["median"] <= POST_TARGET_MS) if full else None,
        ),
        Figure(
            NAME,
            f"POST /deployments:batch of {BATCH}: deployments/s, {CLIENTS} clients",
            "per s",
            stats(batched),
            "higher",
            peer_note="the peer has no batch create",
        ),
    ]


__all__ = ["NAME", "measure", "run"]
