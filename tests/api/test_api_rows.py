"""``GET /deployments?view=rows``: the summaries as rows of values, against a real
Conductor and node over HTTP, and the clients and ``symphony ps`` that read them.

A row must say exactly what the summary says (the same values, looked up by the
answer's column names), page and filter like every other view, and change when the
deployment does; a malformed rows answer is a clear client error, never a wrong table.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import trio

from symphony.cli.ps import ps_rows
from symphony.client import ApiError, AsyncClient, Client, DeploymentRows
from symphony.client._common import rows_refused
from symphony.conductor.api.models import DeploymentSummary, Instance
from symphony.conductor.api.rowview import DEPLOYMENT_COLUMNS, INSTANCE_COLUMNS

from .helpers import Cluster, cluster, sh

LIVE_FIGURES = ("cpu_percent", "rss_bytes")  # sampled per answer: may differ between two


def test_the_columns_are_every_field_of_a_summary_and_of_an_instance() -> None:
    assert set(DEPLOYMENT_COLUMNS) == set(DeploymentSummary.model_fields)
    assert DEPLOYMENT_COLUMNS[-1] == "instances"
    assert set(INSTANCE_COLUMNS) == set(Instance.model_fields)


async def _three(c: Cluster) -> None:
    """One running, one that exited (kept by never restarting), one stopped."""
    specs = [
        sh("sleep 1000", "one", labels={"tier": "web"}),
        sh("exit 3", "two", restart_policy={"type": "never"}),
        sh("sleep 1000", "three", desired_state="stopped"),
    ]
    for spec in specs:
        response = await c.http.post("/deployments", json=spec)
        assert response.status_code == 201, response.text
    await c.wait_running("one")
    await c.wait_for("two", lambda d: d["instances"][0]["state"] == "exited")


async def _rows_pages(c: Cluster, **params: Any) -> list[dict[str, Any]]:
    pages, cursor = [], None
    while True:
        query = {"view": "rows", **params, **({"cursor": cursor} if cursor else {})}
        response = await c.http.get("/deployments", params=query)
        assert response.status_code == 200, response.text
        pages.append(response.json())
        cursor = pages[-1]["next_cursor"]
        if cursor is None:
            return pages


def _as_objects(answer: dict[str, Any]) -> list[dict[str, Any]]:
    columns, inner = answer["columns"], answer["instance_columns"]
    out = []
    for row in answer["deployments"]:
        item = dict(zip(columns, row, strict=True))
        item["instances"] = [dict(zip(inner, i, strict=True)) for i in item["instances"]]
        out.append(item)
    return out


def _without_figures(deployments: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            **d,
            "instances": [
                {k: v for k, v in i.items() if k not in LIVE_FIGURES} for i in d["instances"]
            ],
        }
        for d in deployments
    ]


async def test_a_row_holds_the_summary_values_in_the_order_of_its_columns(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        await _three(c)
        summary = (await c.http.get("/deployments", params={"view": "summary"})).json()
        whole = (await c.http.get("/deployments", params={"view": "rows"})).json()
        assert whole["columns"] == list(DEPLOYMENT_COLUMNS)
        assert whole["instance_columns"] == list(INSTANCE_COLUMNS)
        assert whole.get("next_cursor") is None
        assert _without_figures(_as_objects(whole)) == _without_figures(summary["deployments"])
        # Pages and filters cut rows as they cut any listing.
        pages = await _rows_pages(c, limit=2)
        assert [[r[1] for r in p["deployments"]] for p in pages] == [["one", "two"], ["three"]]
        (web,) = await _rows_pages(c, label="tier=web")
        assert [r[1] for r in web["deployments"]] == ["one"]
        # The running instance's current figures are in its row, as in the summary.
        one = _as_objects(whole)[0]["instances"][0]
        assert one["state"] == "running" and set(LIVE_FIGURES) <= set(one)
        for name in ("one", "two", "three"):
            await c.http.delete(f"/deployments/{name}")


async def test_rows_show_a_change_made_after_the_previous_listing(tmp_path: Path) -> None:
    """Each deployment's row text is kept between listings: a change must replace it."""
    async with cluster(tmp_path, node=False) as c:
        for name in ("a", "b"):
            assert (await c.http.post("/deployments", json=sh("true", name))).status_code == 201
        for params in ({"view": "rows"}, {"view": "rows", "limit": 5}):
            await c.http.get("/deployments", params=params)  # encoded and kept
        patched = await c.http.patch("/deployments/b", json={"desired_state": "stopped"})
        assert patched.status_code == 200, patched.text
        for params in ({"view": "rows"}, {"view": "rows", "limit": 5}):
            answer = (await c.http.get("/deployments", params=params)).json()
            by_name = {d["name"]: d for d in _as_objects(answer)}
            assert by_name["b"]["desired_state"] == "stopped", params
            assert by_name["a"]["desired_state"] == "running", params


async def test_clients_list_rows_and_ps_reads_them_as_it_reads_summaries(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from symphony.client import _common

    monkeypatch.setattr(_common, "PAGE_SIZE", 2)  # three deployments: two pages
    async with cluster(tmp_path) as c:
        await _three(c)
        url, token = c.info.http_url, c.info.api_token

        def sync_part() -> tuple[DeploymentRows, list[dict[str, Any]], DeploymentRows]:
            client = Client(url, token)
            rows = client.deployment_rows()
            web = client.deployment_rows(labels={"tier": None})
            return rows, client.list_deployments(summary=True), web

        rows, summaries, web = await trio.to_thread.run_sync(sync_part)
        assert _without_figures(rows.summaries()) == _without_figures(summaries)
        assert [row[rows.index("name") or 0] for row in web.rows] == ["one"]
        now = time.time()
        for options in ({}, {"show_all": True}, {"wide": True, "gpus": True}):
            shown = {"show_all": False, "wide": False, **options}
            assert ps_rows(rows, now=now, **shown) == ps_rows(summaries, now=now, **shown)
        assert [r[0] for r in ps_rows(rows, show_all=False, wide=False, now=now)] == [
            "one",
            "three",
            "two",
        ]
        async with AsyncClient(url, token) as client:
            again = await client.deployment_rows(state="stopped")
            assert [row[again.index("name") or 0] for row in again.rows] == ["three"]
        for name in ("one", "two", "three"):
            await c.http.delete(f"/deployments/{name}")


async def test_a_refused_view_is_told_from_other_bad_requests(tmp_path: Path) -> None:
    """A Conductor older than rows refuses the view as this one refuses an unknown view:
    the clients then ask for summaries; any other 400 is raised."""
    async with cluster(tmp_path, node=False) as c:
        client = Client(c.info.http_url, c.info.api_token)
        for path, refused in (("/deployments?view=tables", True), ("/deployments?limit=0", False)):
            with pytest.raises(ApiError) as caught:
                await trio.to_thread.run_sync(client._json, "GET", path)
            assert caught.value.status == 400
            assert rows_refused(caught.value) is refused


async def test_the_clients_turn_summaries_into_rows_when_the_view_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Against a Conductor that refuses the view (this one, asked for a view it does
    not have, answers as one older than rows does): the same rows, from summaries."""
    from symphony.client import _common

    plain = _common.deployments_query
    asked: list[str] = []

    def refused(cursor: str | None, *, view: str = "full", **filters: Any) -> str:
        asked.append(view)
        return plain(cursor, view="tables" if view == "rows" else view, **filters)

    async with cluster(tmp_path) as c:
        await _three(c)
        url, token = c.info.http_url, c.info.api_token
        expected = await trio.to_thread.run_sync(lambda: Client(url, token).deployment_rows())
        monkeypatch.setattr(_common, "deployments_query", refused)
        rows = await trio.to_thread.run_sync(lambda: Client(url, token).deployment_rows())
        async with AsyncClient(url, token) as client:
            again = await client.deployment_rows()
        assert asked == ["rows", "summary"] * 2  # refused, then the summaries
        for fallen_back in (rows, again):
            assert _without_figures(fallen_back.summaries()) == _without_figures(
                expected.summaries()
            )
        for name in ("one", "two", "three"):
            await c.http.delete(f"/deployments/{name}")


GOOD = {"columns": ["name", "instances"], "instance_columns": ["id"], "next_cursor": None}


@pytest.mark.parametrize(
    "answer",
    [
        {**GOOD, "deployments": [["web", [["web-0"]]]], "columns": None},
        {**GOOD, "deployments": [["web", [["web-0"]]]], "columns": ["instances", "name"]},
        {**GOOD, "deployments": [["web", [["web-0"]]]], "columns": ["name", 3, "instances"]},
        {**GOOD, "deployments": [["web", [["web-0"]]]], "instance_columns": []},
        {**GOOD, "deployments": {"web": []}},
        {**GOOD, "deployments": [["web"]]},
        {**GOOD, "deployments": [["web", [["web-0"]], "extra"]]},
        {**GOOD, "deployments": [["web", "web-0"]]},
        {**GOOD, "deployments": [["web", [["web-0", "extra"]]]]},
        {**GOOD, "deployments": [["web", [{"id": "web-0"}]]]},
        {**GOOD, "deployments": [{"name": "web", "instances": []}]},
    ],
)
def test_a_malformed_rows_answer_is_an_api_error(answer: dict[str, Any]) -> None:
    rows = DeploymentRows()
    with pytest.raises(ApiError, match="unexpected answer"):
        rows.add_page(answer)
    assert rows.rows == []


def test_a_page_with_other_columns_is_put_in_the_first_pages_order() -> None:
    rows = DeploymentRows()
    rows.add_page({**GOOD, "deployments": [["a", [["a-0"]]]]})
    later = {  # a Conductor upgraded between two pages: one more column, another order
        "columns": ["state", "name", "instances"],
        "instance_columns": ["node_id", "id"],
        "deployments": [["running", "b", [["n1", "b-0"]]]],
    }
    rows.add_page(later)
    assert rows.columns == ("name", "instances") and rows.instance_columns == ("id",)
    assert rows.rows == [["a", [["a-0"]]], ["b", [["b-0"]]]]
    assert rows.index("state") is None and rows.instance_index("id") == 0


def test_rows_of_summaries_keep_every_key_and_read_missing_ones_as_none() -> None:
    rows = DeploymentRows.of_summaries(
        [{"name": "b"}, {"name": "a", "state": "running", "instances": [{"id": "a-0"}]}]
    )
    assert rows.columns == ("name", "state", "instances")
    assert rows.rows == [["b", None, []], ["a", "running", [["a-0"]]]]
    assert rows.summaries() == [
        {"name": "b", "state": None, "instances": []},
        {"name": "a", "state": "running", "instances": [{"id": "a-0"}]},
    ]
