"""A JSON body that gives one key twice is refused (400, naming the key) by every route
that reads a body, on the lean create path and through Quart: the decoder would keep
the last value silently, where a proxy or a reader may take the first."""

from __future__ import annotations

from pathlib import Path

import pytest

from symphony.conductor.api.body import decode_body
from symphony.conductor.api.errors import HttpError
from symphony.conductor.api.lean import LeanApi

from .helpers import cluster

JSON = {"Content-Type": "application/json"}
COMMAND = '"config": {"command": ["true"]}'

# (method, path, a body with a key twice, the key). Each would be accepted without it.
CASES = [
    ("POST", "/deployments", '{"name": "a", "name": "b", ' + COMMAND + "}", "name"),
    ("POST", "/deployments?via=quart", '{"name": "a", ' + COMMAND + ', "name": "b"}', "name"),
    (
        "POST",
        "/deployments",
        '{"name": "c", "config": {"command": ["true"], "env": {"A": "1", "A": "2"}}}',
        "A",
    ),
    ("PATCH", "/deployments/ok", '{"replicas": 2, "replicas": 3}', "replicas"),
    (
        "POST",
        "/deployments:batch",
        '{"deployments": [{"name": "d", ' + COMMAND + ', "config": {"command": ["x"]}}]}',
        "config",
    ),
    ("POST", "/tokens", '{"reusable": true, "reusable": false}', "reusable"),
    ("POST", "/secrets", '{"name": "s", "value": "v", "name": "t"}', "name"),
    ("POST", "/deployments/ok/rollback", '{"version": 1, "version": 1}', "version"),
]


async def test_api_duplicate_keys_are_400_on_every_route_and_change_nothing(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path, node=False) as c:
        ok = {"name": "ok", "config": {"command": ["true"]}}
        assert (await c.http.post("/deployments", json=ok)).status_code == 201
        for method, path, body, key in CASES:
            before = LeanApi.served
            response = await c.http.request(method, path, content=body, headers=JSON)
            assert response.status_code == 400, (path, body, response.text)
            assert response.json() == {
                "error": "malformed request",
                "detail": f"the body has the key {key!r} twice in one object",
            }, path
            if path == "/deployments":  # the lean path refused it, not Quart
                assert LeanApi.served == before + 1
        listed = (await c.http.get("/deployments")).json()["deployments"]
        assert [d["name"] for d in listed] == ["ok"]
        assert (await c.http.get("/deployments/ok")).json()["spec"]["replicas"] == 1
        assert (await c.http.get("/tokens")).json()["tokens"] == []
        # The same keys once each are accepted (the refusal is the repetition's).
        created = {"name": "e", "config": {"command": ["true"], "env": {"A": "1", "a": "2"}}}
        assert (await c.http.post("/deployments", json=created)).status_code == 201


@pytest.mark.parametrize(
    ("body", "key"),
    [
        (b'{"a": 1, "b": {"c": 1, "c": 1}}', "c"),  # the same value twice too
        (b'[{"x": 1}, {"x": 2, "y": 1, "x": 3}]', "x"),  # in a list, not the first
        (b'{"\\u0061": 1, "a": 2}', "a"),  # one key, spelled two ways
        (b'{"' + b"k" * 500 + b'": 1, "' + b"k" * 500 + b'": 2}', "k" * 100),  # cut
    ],
)
def test_api_duplicate_keys_found_at_any_depth(body: bytes, key: str) -> None:
    with pytest.raises(HttpError) as refused:
        decode_body(body, JSON)
    assert refused.value.status == 400
    assert refused.value.detail == f"the body has the key {key!r} twice in one object"


def test_api_duplicate_keys_other_bodies_decode_as_before() -> None:
    assert decode_body(b'{"a": {"b": [1, {"c": null}]}, "B": 2}', JSON) == {
        "a": {"b": [1, {"c": None}]},
        "B": 2,
    }
    assert decode_body(b"{}", JSON) == {}
    with pytest.raises(HttpError) as refused:
        decode_body('\ufeff{"a": 1}'.encode(), JSON)
    assert "Unexpected UTF-8 BOM" in refused.value.detail  # as json.loads says it
