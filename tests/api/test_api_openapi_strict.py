"""The OpenAPI document is generated from the models and is exactly as strict as the server.

It used to be written by hand and accepted bodies the server refuses (``command: [""]``,
a negative ``ttl_seconds``, unknown properties). Here each body is judged twice: by a
JSON-schema validator reading ``/openapi.json``, and by the running server.
"""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from symphony.conductor.api import openapi
from symphony.conductor.api.openapi import openapi_document
from symphony.conductor.api.routes_table import ROUTES

from .helpers import cluster

OK = {"config": {"command": ["true"]}}
SPECS: list[tuple[dict[str, Any], bool]] = [
    (OK, True),
    ({"node_group": "gpu-1", "capacity_requests": {"Analytic1": 1}, "kind": "exec",
      "config": {"command": ["python3", "main.py"], "env": {"LOG_LEVEL": "info"}},
      "restart_policy": {"type": "on-failure", "backoff_seconds": 10}}, True),
    ({"config": {"command": ["true"]}, "health_check": {"type": "tcp", "port": 80}}, True),
    ({"config": {"command": [""]}}, False),
    ({"config": {"command": []}}, False),
    ({"config": {"command": ["true"]}, "replica": 2}, False),
    ({"config": {"command": ["true"], "cmd": 1}}, False),
    ({"config": {"command": ["true"]}, "restart_policy": {"jitter": 0}}, False),
    ({"config": {"command": ["true"]}, "replicas": -1}, False),
    ({"config": {"command": ["true"]}, "replicas": "2"}, False),
    ({"config": {"command": ["true"]}, "name": "Not A Name"}, False),
    ({"config": {"command": ["true"]}, "node_group": "gpu 1"}, False),
    ({"config": {"command": ["true"]}, "capacity_requests": {"bad name": 1}}, False),
    ({"config": {"command": ["true"]}, "capacity_requests": {"A": 0}}, False),
    ({}, False),
]  # fmt: skip
TOKENS: list[tuple[dict[str, Any], bool]] = [
    ({}, True),
    ({"ttl_seconds": 60, "reusable": True}, True),
    ({"ttl_seconds": -1}, False),
    ({"ttl_seconds": 0}, False),
    ({"ttl_seconds": 10**9}, False),
    ({"ttl_seconds": True}, False),
    ({"reusable": "yes"}, False),
    ({"ttl": 60}, False),
]


def _schema_accepts(doc: dict[str, Any], path: str, body: dict[str, Any]) -> bool:
    schema = doc["paths"][path]["post"]["requestBody"]["content"]["application/json"]["schema"]
    root = {**schema, "components": doc["components"]}
    validator = jsonschema.Draft202012Validator(root)
    return validator.is_valid(body)


@pytest.mark.parametrize(("body", "valid"), SPECS)
def test_openapi_spec_schema_judges_bodies_as_the_model_does(body: dict, valid: bool) -> None:
    assert _schema_accepts(openapi_document("test"), "/deployments", body) is valid


@pytest.mark.parametrize(("body", "valid"), TOKENS)
def test_openapi_token_schema_judges_bodies_as_the_model_does(body: dict, valid: bool) -> None:
    assert _schema_accepts(openapi_document("test"), "/tokens", body) is valid


async def test_openapi_and_the_server_agree_on_every_body(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        doc = (await c.http.get("/openapi.json")).json()
        for path, cases in (("/deployments", SPECS), ("/tokens", TOKENS)):
            for body, valid in cases:
                answer = await c.http.post(path, json=body)
                assert (answer.status_code in (200, 201)) is valid, (path, body, answer.text)
                if not valid:
                    assert answer.status_code == 422, (path, body, answer.text)
                assert _schema_accepts(doc, path, body) is valid, (path, body)


def test_openapi_paths_come_from_the_route_table_only() -> None:
    doc = openapi_document("test")
    assert {(r.method, r.path) for r in ROUTES} == {
        (method, path) for path, item in doc["paths"].items() for method in item
    }
    source = inspect.getsource(openapi)
    assert '"/deployments' not in source and '"/tokens' not in source  # no paths by hand
    # Enums of the models appear as such: a client can list the states.
    schemas = doc["components"]["schemas"]
    instance = schemas["Instance"]["properties"]["state"]
    if "$ref" in instance:  # the InstanceState enum, a schema of its own
        instance = schemas[instance["$ref"].rsplit("/", 1)[1]]
    assert "running" in instance["enum"] and "restarting" in instance["enum"]
