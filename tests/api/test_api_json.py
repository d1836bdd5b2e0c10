"""How the API writes JSON: compact UTF-8 in the order the answer was built, the same
for the answers routes encode themselves and for the dicts Quart encodes for them."""

from __future__ import annotations

import json
from pathlib import Path

from symphony.conductor.api.jsonout import json_bytes

from .helpers import cluster


def test_json_bytes_compact_utf8_in_build_order() -> None:
    assert json_bytes({"b": 1, "a": "é", "c": [None, 1.5]}) == (
        b'{"b":1,"a":"\xc3\xa9","c":[null,1.5]}\n'
    )


def test_json_bytes_lone_surrogate_is_escaped_not_refused() -> None:
    # A str that is not valid Unicode: the compiled encoder refuses it, json.dumps
    # escapes it, so the answer is still written (and reads back the same).
    body = json_bytes({"name": "a\ud800b"})
    assert body == b'{"name":"a\\ud800b"}\n'
    assert json.loads(body) == {"name": "a\ud800b"}


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
