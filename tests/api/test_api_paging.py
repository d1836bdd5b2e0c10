"""``GET /deployments`` by pages and filters, against a real Conductor over HTTP.

Pages are cut by creation order, so writes between two pages never shift one: nothing
is listed twice and nothing is skipped. Filters select before paging. Every bad
parameter is a 400 that names it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from symphony.conductor.api.paging import BadCursor, key_of_cursor

from .helpers import cluster, sh


async def _pages(http: httpx.AsyncClient, **params: Any) -> list[list[str]]:
    """Every page's names, following next_cursor to the end."""
    pages: list[list[str]] = []
    cursor = None
    while True:
        query = {**params, **({"cursor": cursor} if cursor else {})}
        response = await http.get("/deployments", params=query)
        assert response.status_code == 200, response.text
        body = response.json()
        pages.append([d["name"] for d in body["deployments"]])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages


async def test_paging_lists_each_deployment_once_in_creation_order(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        names = [f"web-{n:02}" for n in range(25)]
        for name in names:
            assert (await c.http.post("/deployments", json=sh("true", name))).status_code == 201
        pages = await _pages(c.http, limit=10)
        assert [len(p) for p in pages] == [10, 10, 5]
        assert [n for page in pages for n in page] == names
        # Without parameters: the whole list, as before paging existed.
        plain = (await c.http.get("/deployments")).json()
        assert [d["name"] for d in plain["deployments"]] == names

        # Writes between pages: a deleted one is not replaced by a neighbour, a new
        # one appears at the end; nothing twice, nothing skipped.
        first = (await c.http.get("/deployments", params={"limit": 10})).json()
        await c.http.delete("/deployments/web-03")
        await c.http.delete("/deployments/web-12")
        assert (await c.http.post("/deployments", json=sh("true", "late"))).status_code == 201
        rest = await _pages(c.http, limit=10, cursor=first["next_cursor"])
        after = [n for page in rest for n in page]
        assert after == [n for n in names[10:] if n != "web-12"] + ["late"]


async def test_filters_select_by_state_group_name_and_labels(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        specs = [
            sh("true", "api-1", labels={"team": "ml", "example.com/tier": "gold"}),
            sh("true", "api-2", labels={"team": "ml"}, desired_state="stopped"),
            sh("true", "web-1", labels={"team": "web"}, node_group="gpu-1"),
            sh("true", "web-2", node_group="gpu-1"),
        ]
        for spec in specs:
            assert (await c.http.post("/deployments", json=spec)).status_code == 201

        async def names(**params: Any) -> list[str]:
            return [n for page in await _pages(c.http, **params) for n in page]

        assert await names(label="team=ml") == ["api-1", "api-2"]
        assert await names(label="team") == ["api-1", "api-2", "web-1"]
        assert await names(label=["team=ml", "example.com/tier=gold"]) == ["api-1"]
        assert await names(name="web-") == ["web-1", "web-2"]
        assert await names(node_group="gpu-1") == ["web-1", "web-2"]
        assert await names(state="stopped") == ["api-2"]
        assert await names(state="pending", node_group="gpu-1", label="team") == ["web-1"]
        assert await names(state="pending", limit=1) == ["api-1", "web-1", "web-2"]
        assert await names(label="team=nobody") == []
        listed = (await c.http.get("/deployments/api-1")).json()
        assert listed["spec"]["labels"] == {"team": "ml", "example.com/tier": "gold"}


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "1001"}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"cursor": "not-a-cursor"}, "cursor"),
        ({"cursor": "W10"}, "cursor"),  # base64 of "[]": JSON, but not a cursor
        ({"cursor": "x" * 600}, "cursor"),
        ({"state": "asleep"}, "state"),
        ({"name": "Web"}, "name"),
        ({"label": "bad key"}, "label"),
        ({"label": "team=-x"}, "label"),
        ({"label": [f"k{n}" for n in range(17)]}, "label"),
        ({"view": "brief"}, "view"),
        ({"view": "Summary"}, "view"),
        ({"view": "Rows"}, "view"),
    ],
)
async def test_bad_list_parameters_are_a_400_naming_them(
    tmp_path: Path, params: dict[str, Any], named: str
) -> None:
    async with cluster(tmp_path, node=False) as c:
        response = await c.http.get("/deployments", params=params)
        assert response.status_code == 400, response.text
        body = response.json()
        assert body["error"] == "bad parameter" and named in body["detail"], body


async def test_labels_are_validated_and_changing_them_replaces_no_process(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        bad = await c.http.post("/deployments", json=sh("true", "x", labels={"a b": "c"}))
        assert bad.status_code == 422 and "labels" in bad.text
        spec = sh("sleep 1000", "keep", node_group="gpu-1", labels={"v": "1"})
        assert (await c.http.post("/deployments", json=spec)).status_code == 201
        before = await c.wait_running("keep")
        patched = await c.http.patch("/deployments/keep", json={"labels": {"v": "2"}})
        assert patched.status_code == 200, patched.text
        after = patched.json()
        assert after["spec"]["labels"] == {"v": "2"}
        live = [i for i in after["instances"] if i["state"] == "running"]
        assert [i["id"] for i in live] == [before["instances"][0]["id"]]
        await c.http.delete("/deployments/keep")


@given(st.text(max_size=80))
def test_any_text_is_a_cursor_or_refused_cleanly(text: str) -> None:
    try:
        created_at, deployment_id = key_of_cursor(text)
    except BadCursor:
        return
    assert isinstance(created_at, float) and isinstance(deployment_id, str)


async def test_clients_page_through_with_filters(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from symphony.client import AsyncClient, Client, _common

    monkeypatch.setattr(_common, "PAGE_SIZE", 2)  # five deployments: three pages
    async with cluster(tmp_path, node=False) as c:
        for n in range(5):
            spec = sh("true", f"job-{n}", labels={"odd": "yes"} if n % 2 else {})
            assert (await c.http.post("/deployments", json=spec)).status_code == 201
        url, token = c.info.http_url, c.info.api_token

        def sync_part() -> tuple[list[str], list[str]]:
            client = Client(url, token)
            every = [d["name"] for d in client.list_deployments()]
            odd = [d["name"] for d in client.list_deployments(labels={"odd": None})]
            return every, odd

        every, odd = await trio.to_thread.run_sync(sync_part)
        assert every == [f"job-{n}" for n in range(5)] and odd == ["job-1", "job-3"]
        async with AsyncClient(url, token) as client:
            listed = await client.list_deployments(name="job-", state="pending")
            assert [d["name"] for d in listed] == every
            assert await client.list_deployments(labels={"odd": "no"}) == []
            brief = await client.list_deployments(summary=True)
            assert [d["name"] for d in brief] == every and all("spec" not in d for d in brief)


async def test_a_summary_is_the_full_view_without_its_spec(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        for name in ("one", "two", "three"):
            spec = sh("sleep 1000", name, labels={"k": name})
            assert (await c.http.post("/deployments", json=spec)).status_code == 201
        for name in ("one", "two", "three"):
            # All settled: the two listings below are read a moment apart, and an
            # instance still starting in one may be running in the other.
            await c.wait_running(name)
        pages = await _pages(c.http, view="summary", limit=2)
        assert pages == [["one", "two"], ["three"]]
        full = (await c.http.get("/deployments")).json()["deployments"]
        summary = (await c.http.get("/deployments", params={"view": "summary"})).json()
        # The same but for the spec (and the instances' figures, which are sampled live).
        assert _without_figures(summary["deployments"]) == _without_figures(
            [{k: v for k, v in d.items() if k != "spec"} for d in full]
        )
        # The live figures of the running instances are there too, as in the full view.
        two = next(d for d in summary["deployments"] if d["name"] == "two")
        assert {"cpu_percent", "rss_bytes"} <= set(two["instances"][0])
        for name in ("one", "two", "three"):
            await c.http.delete(f"/deployments/{name}")


def _without_figures(deployments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    live = ("cpu_percent", "rss_bytes")
    return [
        {**d, "instances": [{k: v for k, v in i.items() if k not in live} for i in d["instances"]]}
        for d in deployments
    ]


async def test_a_listing_shows_a_change_made_after_the_previous_listing(tmp_path: Path) -> None:
    """Each deployment's encoded text is kept between listings: a change must replace it."""
    async with cluster(tmp_path, node=False) as c:
        for name in ("a", "b"):
            assert (await c.http.post("/deployments", json=sh("true", name))).status_code == 201
        for params in ({}, {"view": "summary"}, {"limit": 1}, {"limit": 5, "view": "summary"}):
            await c.http.get("/deployments", params=params)  # encoded and kept
        patched = await c.http.patch("/deployments/b", json={"desired_state": "stopped"})
        assert patched.status_code == 200, patched.text
        for params in ({}, {"view": "summary"}, {"limit": 5}, {"limit": 5, "view": "summary"}):
            listed = (await c.http.get("/deployments", params=params)).json()["deployments"]
            by_name = {d["name"]: d for d in listed}
            assert by_name["b"]["desired_state"] == "stopped", params
            assert by_name["a"]["desired_state"] == "running", params
