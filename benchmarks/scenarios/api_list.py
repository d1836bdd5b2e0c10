"""``GET /deployments`` latency with 10,000 deployments (quick: 200).

The deployments are created through ``POST /deployments`` (8 at a time) on a Conductor
with no node, so they all stay pending; then the whole list is fetched repeatedly. The
peer caps a page at 500, so its client fetches 20 pages for the same list (its own way of
listing everything). The limit is one ``GET /healthz``: the fixed cost of a request.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import trio

from ._api import SymphonyApi
from ._context import Context, Harness
from ._figures import Figure, stats
from ._symphony import symphony_harness

NAME = "api_list"
#: The page size of the paged figure, and its target (issue "Ahead of the peer").
PAGE = 500
PAGE_TARGET_MS = 50.0


async def measure(h: Harness, params: dict[str, Any]) -> dict[str, Any]:
    n = params["n"]
    names = iter(range(n))

    async def worker() -> None:
        for i in names:
            await h.api.create(f"list-{i:05d}", ["/bin/true"])

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        for _ in range(8):
            nursery.start_soon(worker)
    created = time.perf_counter() - start
    samples = []
    for _ in range(params["repeats"]):
        start = time.perf_counter()
        count = await h.api.list_count()
        samples.append(time.perf_counter() - start)
        if count < n:
            raise RuntimeError(f"listed {count} of {n} deployments")
    return {"list_s": samples, "create_per_s": [n / created], "page_s": await _pages(h, params)}


async def _pages(h: Harness, params: dict[str, Any]) -> list[float]:
    """A page from the middle of the list (Symphony's own API only): :data:`PAGE`
    deployments, or a quarter of a small (quick) list."""
    if not isinstance(h.api, SymphonyApi):  # the peer's API has other pages
        return []
    http = h.api.http
    size = page_size(params["n"])
    cursor = None
    for _ in range(params["n"] // 2 // size):
        response = await http.get("/deployments", params={"limit": size, **_at(cursor)})
        cursor = response.json()["next_cursor"]
    samples = []
    for _ in range(params["repeats"]):
        start = time.perf_counter()
        response = await http.get("/deployments", params={"limit": size, **_at(cursor)})
        samples.append(time.perf_counter() - start)
        if response.status_code != 200 or len(response.json()["deployments"]) != size:
            raise RuntimeError(f"a page of {size} was not answered: {response.text[:200]}")
    return samples


def page_size(n: int) -> int:
    return min(PAGE, max(1, n // 4))


def _at(cursor: str | None) -> dict[str, str]:
    return {} if cursor is None else {"cursor": cursor}


async def run(ctx: Context) -> list[Figure]:
    params = {"n": ctx.size(200, 10_000), "repeats": ctx.size(3, 10), "nodes": 0}
    async with symphony_harness(ctx, NAME, nodes=0) as (h, cluster):
        ours = await measure(h, params)
        async with httpx.AsyncClient(base_url=cluster.http_url) as http:
            raw = []
            for _ in range(params["repeats"]):
                start = time.perf_counter()
                await http.get("/healthz")
                raw.append(time.perf_counter() - start)
    theirs, note = await ctx.run_peer(NAME, params)
    n = params["n"]
    return [
        Figure(
            NAME,
            f"GET /deployments with {n:,} deployments",
            "ms",
            stats(ours["list_s"], 1000),
            peer=stats(theirs["list_s"], 1000) if theirs else None,
            peer_note=note or "peer: 500 per page at most, so its figure is all pages",
            limit=stats(raw, 1000),
            limit_label="GET /healthz",
        ),
        Figure(
            NAME,
            f"GET /deployments?limit={page_size(n)}: a middle page of {n:,}",
            "ms",
            stats(ours["page_s"], 1000),
            limit=stats(raw, 1000),
            limit_label="GET /healthz",
            target=f"<= {PAGE_TARGET_MS:g} ms" if not ctx.quick else "",
            met=(stats(ours["page_s"], 1000)["median"] <= PAGE_TARGET_MS)
            if not ctx.quick
            else None,
        ),
        Figure(
            NAME,
            f"POST /deployments rate while creating {n:,} (8 at a time, no node)",
            "per s",
            stats(ours["create_per_s"]),
            "higher",
            peer=stats(theirs["create_per_s"]) if theirs else None,
            peer_note=note,
        ),
    ]
