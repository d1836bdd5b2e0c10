"""How the API writes JSON: compact UTF-8 in the order the answer was built, the same
for the answers routes encode themselves and for the dicts Quart encodes for them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from symphony.conductor.api.jsonout import json_bytes, json_compact

from .helpers import cluster

VALUES = [
    {"b": 1, "a": "é", "c": [None, 1.5, True], "d": {"z": "✓\u2028\x00", "y": -0.0}},
    [1e300, 5e-324, 2**70, "", {}, []],
    {"name": "a\ud800b"},  # not valid Unicode: escaped, never refused
]


@pytest.mark.parametrize("value", VALUES)
def test_both_encoders_write_one_form(value: object) -> None:
    hot, cold = json_compact(value) + b"\n", json_bytes(value)
    assert hot == cold
    assert json.loads(cold) == value


def test_the_form_is_compact_utf8_in_build_order() -> None:
    assert json_bytes({"b": 1, "a": "é", "c": [None, 1.5]}) == (
        b'{"b":1,"a":"\xc3\xa9","c":[null,1.5]}\n'
    )
    assert json_bytes({"name": "a\ud800b"}) == b'{"name":"a\\ud800b"}\n'


async def test_api_json_create_and_get_write_utf8_in_view_order(tmp_path: Path) -> None:
    spec = {"name": "greek", "config": {"command": ["echo", "αβγ"]}}
    async with cluster(tmp_path, node=False) as c:
        created = await c.http.post("/deployments", json=spec)  # the lean path
        shown = await c.http.get("/deployments/greek")  # a dict Quart encodes
        for response in (created, shown):
            assert response.status_code in (200, 201), response.text
            assert response.headers["content-type"] == "application/json"
            body = response.content
            assert "αβγ".encode() in body and b"\\u03b1" not in body
            assert body.startswith(b'{"id":"') and body.endswith(b"}\n")
            assert b", " not in body and b": " not in body  # compact
            assert response.json()["spec"]["config"]["command"] == ["echo", "αβγ"]
