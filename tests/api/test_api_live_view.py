"""``GET /live?view=summary``: the live feed without the deployments' specs, against a
real Conductor over HTTP.

The web UI holds every deployment from this feed but shows a spec only on one
deployment's page; the summaries must be exactly what ``GET /deployments?view=summary``
lists (the same shared texts), smaller than the full feed, and a bad ``view`` a 400 like
every other route's, before any stream begins.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from ..ui.test_live import Sse, live
from .helpers import Cluster, cluster, sh


@asynccontextmanager
async def feed(c: Cluster, **params: str) -> AsyncIterator[Sse]:
    async with live(c.info.http_url, c.info.api_token, **params) as (response, sse):
        assert response.status_code == 200
        yield sse


async def _create(c: Cluster, *names: str) -> None:
    for name in names:
        spec = sh("sleep 1000", name, node_group="gpu-1", capacity_requests={"Analytic1": 1})
        response = await c.http.post("/deployments", json=spec)
        assert response.status_code == 201, response.text


async def test_live_summary_snapshot_is_the_summary_listing_without_specs(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        await _create(c, "one", "two", "three")
        listed = (await c.http.get("/deployments", params={"view": "summary"})).json()
        async with feed(c, view="summary") as summary, feed(c) as full:
            kind, snapshot = await summary.next()
            full_kind, full_snapshot = await full.next()
            size, full_size = summary.size, full.size
        assert kind == full_kind == "snapshot"
        assert snapshot["deployments"] == listed["deployments"]
        assert [d["name"] for d in snapshot["deployments"]] == ["one", "two", "three"]
        assert all("spec" not in d for d in snapshot["deployments"])
        # The default is unchanged for other clients: every deployment with its spec.
        assert all("spec" in d for d in full_snapshot["deployments"])
        assert [
            {k: v for k, v in d.items() if k != "spec"} for d in full_snapshot["deployments"]
        ] == (snapshot["deployments"])
        assert size < full_size * 0.8, (size, full_size)


async def test_live_summary_changes_come_without_specs_and_say_the_spec_moved(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path) as c:
        await _create(c, "web")
        async with feed(c, view="summary") as sse:
            _, snapshot = await sse.next()
            (before,) = snapshot["deployments"]
            running = await sse.until("deployment", lambda d: d["deployment"]["state"] == "running")
            assert "spec" not in running["deployment"]
            patched = await c.http.patch("/deployments/web", json={"config": {"env": {"A": "1"}}})
            assert patched.status_code == 200, patched.text
            # A spec change moves the summary's generation: the UI then reads the spec.
            moved = await sse.until(
                "deployment", lambda d: d["deployment"]["generation"] > before["generation"]
            )
            assert "spec" not in moved["deployment"]
            assert moved["deployment"]["version"] == patched.json()["version"]


@pytest.mark.parametrize(
    "query",
    [
        "view=brief",
        "view=Summary",
        "view=rows",  # a listing's view, not the feed's
        "view=",
        "view=summary%00",
        "view=%ff%fe",  # not UTF-8
        "view=" + "s" * 5000,
    ],
    ids=["unknown", "capitalised", "rows", "empty", "nul", "not-utf8", "long"],
)
async def test_live_bad_view_is_a_400_naming_it(tmp_path: Path, query: str) -> None:
    async with cluster(tmp_path, node=False) as c:
        response = await c.http.get(f"/live?{query}")
        assert response.status_code == 400, response.text
        assert response.headers["content-type"].startswith("application/json")
        body = response.json()
        assert body["error"] == "bad parameter" and "view" in body["detail"], body


async def test_live_takes_the_first_view_and_ignores_unknown_parameters(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        await _create(c, "one")
        async with feed(c, view="summary", _="123") as sse:
            _, snapshot = await sse.next()
        assert "spec" not in snapshot["deployments"][0]
        async with c.http.stream("GET", "/live?view=summary&view=brief") as response:
            assert response.status_code == 200
