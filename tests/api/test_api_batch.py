"""``POST /deployments:batch``: all items or none, each refusal named by its item's index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import trio

from symphony.client import ApiError, AsyncClient, Client
from symphony.conductor.api.models_batch import MAX_BATCH

from .helpers import cluster


def item(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "config": {"command": ["sleep", "60"]}, **extra}


async def names(c: Any) -> set[str]:
    return {d["name"] for d in (await c.http.get("/deployments")).json()["deployments"]}


async def test_api_batch_creates_every_item_and_answers_each_in_order(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        body = {"deployments": [item("b-1"), item("b-2", replicas=2), item("b-3")]}
        response = await c.http.post("/deployments:batch", json=body)
        assert response.status_code == 201, response.text
        created = response.json()["deployments"]
        assert [d["name"] for d in created] == ["b-1", "b-2", "b-3"]
        assert [len(d["instances"]) for d in created] == [1, 2, 1]
        assert all(d["id"].startswith("d_") for d in created)
        for name in ("b-1", "b-2", "b-3"):
            await c.wait_running(name)


async def test_api_batch_any_bad_item_refuses_all_naming_each_index(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        body = {
            "deployments": [
                item("ok-1"),
                item("Bad Name"),  # not a DNS label
                item("ok-2", replicas=-1),
                "not a spec",
                item("ok-1"),  # the same name as item 0
                item("ok-3", experiment="x"),  # set by the Conductor only
            ]
        }
        response = await c.http.post("/deployments:batch", json=body)
        assert response.status_code == 400, response.text
        answer = response.json()
        assert answer["error"] == "invalid batch"
        by_index = {p["index"]: p for p in answer["detail"]}
        assert sorted(by_index) == [1, 2, 3, 4, 5]
        assert by_index[1]["error"] == "invalid spec"
        assert by_index[1]["detail"][0]["path"] == "name"
        assert by_index[2]["detail"][0]["path"] == "replicas"
        assert by_index[4]["error"] == "name conflict"
        assert "item 0" in by_index[4]["detail"]
        assert await names(c) == set()  # nothing created


async def test_api_batch_a_taken_name_is_a_409_and_creates_nothing(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        assert (await c.http.post("/deployments", json=item("taken"))).status_code == 201
        body = {"deployments": [item("new"), item("taken")]}
        response = await c.http.post("/deployments:batch", json=body)
        assert response.status_code == 409, response.text
        assert response.json()["detail"] == [
            {
                "index": 1,
                "error": "name conflict",
                "detail": "a deployment named 'taken' exists already; choose another name",
            }
        ]
        assert await names(c) == {"taken"}


async def test_api_batch_unknown_secret_is_refused_with_its_index(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        secret = item("s", config={"command": ["true"], "env": {"T": {"secret": "nope"}}})
        response = await c.http.post(
            "/deployments:batch", json={"deployments": [item("a"), secret]}
        )
        assert response.status_code == 400, response.text
        [problem] = response.json()["detail"]
        assert problem["index"] == 1 and problem["error"] == "invalid spec"
        assert await names(c) == set()


async def test_api_batch_malformed_bodies_are_400(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        too_many = {"deployments": [item(f"n-{i}") for i in range(MAX_BATCH + 1)]}
        for body, words in [
            ([item("a")], '{"deployments"'),  # a list, not an object
            ({"deployments": item("a")}, "a list of specs"),  # not a list
            ({"deployments": []}, "between 1 and"),
            (too_many, f"between 1 and {MAX_BATCH}"),
            ({"deployments": [item("a")], "extra": 1}, '{"deployments"'),
            ({}, '{"deployments"'),
        ]:
            response = await c.http.post("/deployments:batch", json=body)
            assert response.status_code == 400, (body, response.text)
            assert response.json()["error"] == "malformed request"
            assert words in response.json()["detail"], response.text
        assert await names(c) == set()


async def test_api_batch_is_in_the_openapi_document(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        doc = (await c.http.get("/openapi.json")).json()
        op = doc["paths"]["/deployments:batch"]["post"]
        body = op["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": "#/components/schemas/DeploymentBatch"}
        batch = doc["components"]["schemas"]["DeploymentBatch"]["properties"]["deployments"]
        assert batch["maxItems"] == MAX_BATCH
        assert "201" in op["responses"] and "400" in op["responses"]


async def test_api_batch_from_both_clients(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        url, token = c.info.http_url, c.info.api_token

        def sync_part() -> None:
            client = Client(url, token)
            created = client.create_deployments([item("s-1"), item("s-2")])
            assert [d["name"] for d in created] == ["s-1", "s-2"]
            with pytest.raises(ApiError) as refused:
                client.create_deployments([item("s-3"), item("s-1")])
            assert refused.value.status == 409
            assert refused.value.detail[0]["index"] == 1
            with pytest.raises(TypeError, match="a list of specs"):
                client.create_deployments(item("s-4"))  # type: ignore[arg-type]

        await trio.to_thread.run_sync(sync_part)
        async with AsyncClient(url, token) as client:
            created = await client.create_deployments([item("a-1")])
            assert [d["name"] for d in created] == ["a-1"]
        assert await names(c) == {"s-1", "s-2", "a-1"}
