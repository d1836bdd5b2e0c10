"""The OpenAPI document describes every route, and schemathesis finds nothing against it."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

import pytest
import trio

from symphony.conductor.api.openapi import openapi_document

from .helpers import cluster

#: What the fuzzer checks: no 5xx, and every answer (status, content type, body) is one
#: the document promises.
CHECKS = "not_a_server_error,response_schema_conformance,status_code_conformance,content_type_conformance"  # noqa: E501


def test_api_openapi_describes_every_route() -> None:
    from symphony.conductor.api import create_app
    from symphony.conductor.api.context import ApiContext

    nothing: Any = None  # the app is only built, never called
    ctx = ApiContext(registry=nothing, scheduler=nothing, deployments=nothing, store=nothing,
                     events=nothing, started_at=0.0, version="test", token=None)  # fmt: skip
    app = create_app(ctx)
    doc = openapi_document("test")
    assert doc["openapi"].startswith("3.1")
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static" or rule.rule == "/ui/":
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((method.lower(), path))
    documented = {(m, p) for p, item in doc["paths"].items() for m in item if m != "parameters"}
    assert routes <= documented, routes - documented
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method == "parameters":
                continue
            # A spec or a merge patch is required; promote and rollback need no body.
            if path in ("/deployments", "/deployments/{id_or_name}") and method in (
                "post",
                "patch",
            ):
                assert op["requestBody"]["required"] is True, (method, path)
            if op.get("security") != []:
                assert "401" in op["responses"], (method, path)
    # Every $ref resolves.
    text = json.dumps(doc)
    for name in re.findall(r'"#/components/schemas/([^"]+)"', text):
        assert name in doc["components"]["schemas"], name
    assert "$defs" not in text


async def test_api_openapi_docs_page_is_self_contained(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        page = (await c.http.get("/docs")).text
        assert "/openapi.json" in page
        assert not re.search(r"""(src|href)=["']?(https?:)?//""", page)
        served = (await c.http.get("/openapi.json")).json()
        assert served == openapi_document(served["info"]["version"])


async def test_api_openapi_schemathesis_finds_nothing(tmp_path: Path) -> None:
    pytest.importorskip("schemathesis")
    async with cluster(tmp_path, node=False) as c:
        doc = (await c.http.get("/openapi.json")).json()
        # Thousands of replicas are valid, but creating them takes seconds each: that is
        # a scale test, not this one, which is about answers to odd requests.
        doc["components"]["schemas"]["DeploymentSpec"]["properties"]["replicas"]["maximum"] = 3
        # Likewise an experiment of many processes (each a deployment); and nested lists of
        # processes make data generation slow enough to fail its health check.
        experiment = doc["components"]["schemas"]["ExperimentSpec"]["properties"]
        experiment["processes"]["maxItems"] = 2
        batch = doc["components"]["schemas"]["DeploymentBatch"]["properties"]["deployments"]
        batch["maxItems"] = 2  # likewise a batch of deployments
        experiment["process_groups"]["maxItems"] = 1
        schema = tmp_path / "openapi.json"
        schema.write_text(json.dumps(doc))
        command = [
            sys.executable, "-m", "schemathesis.cli", "run", str(schema),
            "--url", c.info.http_url,
            "-H", f"Authorization: Bearer {c.info.api_token}",
            "--checks", CHECKS,
            "--phases", "fuzzing,stateful",
            # Another suite tests these: an endless event stream and static files.
            "--exclude-path-regex", "^/(live|ui)",
            "--max-examples", "15",
            "--seed", "20261121",
            "--generation-deterministic",
            "--workers", "1",
            "--request-timeout", "20",
            "--no-color",
        ]  # fmt: skip
        result = await trio.run_process(
            command, capture_stdout=True, capture_stderr=True, check=False, cwd=tmp_path
        )
        output = result.stdout.decode() + result.stderr.decode()
        assert result.returncode == 0, output[-8000:]
        generated = re.search(r"(\d+) generated", output)
        assert generated and int(generated.group(1)) >= 150, output[-3000:]
