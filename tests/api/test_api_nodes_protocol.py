"""``GET /nodes`` says which protocol version each node speaks (what a client needs to
tell whether a node can run a job with sources or secrets), and the OpenAPI document
promises it."""

from __future__ import annotations

from pathlib import Path

import jsonschema

from symphony.wire import PROTOCOL_VERSION

from .helpers import cluster


async def test_api_nodes_list_each_nodes_protocol_version(tmp_path: Path) -> None:
    async with cluster(tmp_path) as c:
        doc = (await c.http.get("/openapi.json")).json()
        schema = doc["components"]["schemas"]["Node"]
        assert "protocol_version" in schema["required"]
        assert schema["properties"]["protocol_version"]["type"] == "integer"
        validator = jsonschema.Draft202012Validator({**schema, "components": doc["components"]})
        nodes = (await c.http.get("/nodes")).json()["nodes"]
        assert [n["protocol_version"] for n in nodes] == [PROTOCOL_VERSION]
        for node in nodes:
            validator.validate(node)
