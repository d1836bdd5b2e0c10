"""Symphony's side of a scenario: a fresh real cluster, a probe and an API client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import psutil

from ._api import SymphonyApi
from ._cluster import Cluster
from ._context import Context, Harness
from ._probe import Probe


@contextlib.asynccontextmanager
async def symphony_harness(
    ctx: Context, name: str, *, nodes: int, **cluster: Any
) -> AsyncIterator[tuple[Harness, Cluster]]:
    """Start a Conductor and ``nodes`` Nodes in ``workdir/name``; stop all of it after."""
    root = ctx.workdir / name
    root.mkdir(parents=True, exist_ok=True)
    c = Cluster(root, **cluster)
    api = SymphonyApi(c.http_url)
    try:
        await c.start(nodes=nodes)
        async with Probe(root / "probe.fifo") as probe:

            def rss() -> dict[str, int]:
                assert c.conductor is not None
                return {
                    "conductor": psutil.Process(c.conductor.pid).memory_info().rss,
                    "node": sum(c.node_rss(n) for n in c.nodes),
                }

            try:
                yield Harness(api, probe, rss), c
            finally:
                probe.kill_all()
    finally:
        await api.aclose()
        c.stop()
