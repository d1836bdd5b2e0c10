"""``GET /openapi.json`` (OpenAPI 3.1, written by hand) and ``GET /docs`` (an explorer).

The spec schema is generated from the one model the API validates with
(:meth:`DeploymentSpec.json_schema`), so the document cannot drift from the validation;
the rest is short enough to keep by hand, and a schemathesis run in the tests checks
every response against it.
"""

from __future__ import annotations

import functools
import json
from typing import Any

from quart import Blueprint, Response

from .docs_page import DOCS_HTML
from .schemas import SCHEMAS

api_docs = Blueprint("api_docs", __name__)

JSON = "application/json"
STR = {"type": "string"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors(*codes: int) -> dict[str, Any]:
    words = {
        400: "Malformed request or parameter",
        401: "Missing or wrong API token",
        403: "A change sent from a web page of another origin",
        404: "No such deployment, instance or path",
        409: "Conflict (a name in use; an instance with no logs yet)",
        413: "Body larger than 1 MiB",
        415: "A body that is not declared as application/json",
        421: "The Host header names a host this Conductor does not answer to",
        422: "Invalid spec; detail lists {path, message}",
        503: "A node or a Conductor component cannot answer now",
        504: "The node did not answer in time",
    }
    return {str(c): _json(_ref("Error"), words[c]) for c in codes}


ID_OR_NAME = {
    "name": "id_or_name",
    "in": "path",
    "required": True,
    "description": "A deployment id (d_...) or its unique name",
    "schema": {"type": "string", "minLength": 1},
}


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "schema": schema,
        "description": description,
    }


def _op(summary: str, responses: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"summary": summary, "responses": responses, **extra}


def _paths() -> dict[str, Any]:
    one = _json(_ref("Deployment"), "The deployment with its instances")
    return {
        "/healthz": {
            "get": _op(
                "Liveness; needs no token",
                {"200": _json(_ref("Health"), "The Conductor is up")},
                security=[],
            )
        },
        "/deployments": {
            "post": _op(
                "Create a deployment from a spec",
                {
                    "201": _json(_ref("Deployment"), "Created"),
                    **_errors(400, 401, 409, 413, 422, 503),
                },
                requestBody={
                    "required": True,
                    "content": {JSON: {"schema": _ref("DeploymentSpec")}},
                },
            ),
            "get": _op(
                "Every deployment with its instances",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["deployments"],
                            "properties": {
                                "deployments": {"type": "array", "items": _ref("Deployment")}
                            },
                        },
                        "Deployments",
                    ),
                    **_errors(401),
                },
            ),
        },
        "/deployments/{id_or_name}": {
            "parameters": [ID_OR_NAME],
            "get": _op("One deployment", {"200": one, **_errors(400, 401, 404)}),
            "patch": _op(
                "Change desired_state and/or the spec (JSON merge patch, RFC 7386)",
                {"200": one, **_errors(400, 401, 404, 409, 413, 422, 503)},
                requestBody={
                    "required": True,
                    "content": {
                        JSON: {
                            "schema": {
                                "type": "object",
                                "description": "Merge patch of the spec, e.g. "
                                '{"desired_state": "stopped"} or {"replicas": 3}',
                            }
                        }
                    },
                },
            ),
            "delete": _op(
                "Stop every instance's process group, release capacity, delete",
                {"200": _json(_ref("Deleted"), "Deleted"), **_errors(400, 401, 404, 503)},
            ),
        },
        "/deployments/{id_or_name}/logs": {
            "get": _op(
                "An instance's stdout or stderr (tail, then follow)",
                {
                    "200": {
                        "description": "Log text; with follow, streamed until the client leaves",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **_errors(400, 401, 404, 409, 503, 504),
                },
                parameters=[
                    ID_OR_NAME,
                    _query(
                        "tail",
                        {"type": "integer", "minimum": 0, "maximum": 100000, "default": 100},
                        "Lines from the end",
                    ),
                    _query(
                        "follow", {"type": "boolean", "default": False}, "Keep streaming new lines"
                    ),
                    _query(
                        "instance",
                        {"type": "string", "minLength": 1, "maxLength": 253},
                        "Instance id or replica number (default: first live, else latest)",
                    ),
                    _query(
                        "stream",
                        {"type": "string", "enum": ["stdout", "stderr"], "default": "stdout"},
                        "Which stream",
                    ),
                ],
            )
        },
        "/deployments/{id_or_name}/events": {
            "get": _op(
                "A deployment's event history, oldest first",
                {
                    "200": _json(_ref("EventPage"), "Events after the cursor"),
                    **_errors(400, 401, 404),
                },
                parameters=[
                    ID_OR_NAME,
                    _query(
                        "after",
                        {"type": "integer", "minimum": 0, "maximum": 2**63 - 1},
                        "Only events with a larger id (the previous page's next_after)",
                    ),
                    _query(
                        "limit",
                        {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
                        "Page size",
                    ),
                ],
            )
        },
        "/nodes/{node_id}/usage-history": {
            "get": _op(
                "A node's CPU and RAM over the last hour, in one-minute buckets",
                {
                    "200": _json(_ref("NodeUsageHistory"), "Buckets, oldest first"),
                    **_errors(401, 404, 503),
                },
                parameters=[
                    {
                        "name": "node_id",
                        "in": "path",
                        "required": True,
                        "description": "A node id",
                        "schema": {"type": "string", "minLength": 1},
                    }
                ],
            )
        },
        "/deployments/{id_or_name}/usage-history": {
            "get": _op(
                "A deployment's live instances' CPU and RSS and its restarts over the last "
                "hour, in one-minute buckets",
                {
                    "200": _json(_ref("DeploymentUsageHistory"), "Buckets, oldest first"),
                    **_errors(401, 404, 503),
                },
                parameters=[ID_OR_NAME],
            )
        },
        "/nodes": {
            "get": _op(
                "Every node: state, groups, capacities, usage",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["nodes"],
                            "properties": {"nodes": {"type": "array", "items": _ref("Node")}},
                        },
                        "Nodes",
                    ),
                    **_errors(401, 503),
                },
            )
        },
        "/metrics": {
            "get": _op(
                "Prometheus metrics",
                {
                    "200": {
                        "description": "Prometheus text format 0.0.4",
                        "content": {"text/plain": {"schema": {"type": "string"}}},
                    },
                    **_errors(401, 503),
                },
            )
        },
        "/states": {
            "get": _op(
                "Every instance and deployment state, and which instance states are live "
                "(not ended), placed (holding capacity on a node) and final",
                {"200": _json(_ref("States"), "The state lists"), **_errors(401)},
            )
        },
        "/openapi.json": {
            "get": _op(
                "This document", {"200": _json({"type": "object"}, "OpenAPI 3.1"), **_errors(401)}
            )
        },
        "/tokens": {
            "post": _op(
                "Create a node join token (shown once)",
                {
                    "201": _json(
                        {
                            "type": "object",
                            "required": ["token", "id"],
                            "properties": {
                                "token": STR,
                                "id": STR,
                                "expires_at": {"type": ["number", "null"]},
                                "single_use": {"type": "boolean"},
                                "ca_hash": STR,
                                "join_addr": {"type": ["string", "null"]},
                                "join_command": STR,
                            },
                        },
                        "The token and how a node uses it",
                    ),
                    **_errors(400, 401, 413, 422, 503),
                },
                requestBody={
                    "required": False,
                    "content": {
                        JSON: {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "ttl_seconds": {"type": "number"},
                                    "reusable": {"type": "boolean"},
                                },
                            }
                        }
                    },
                },
            ),
            "get": _op(
                "Join tokens, without their secrets",
                {
                    "200": _json(
                        {
                            "type": "object",
                            "required": ["tokens"],
                            "properties": {
                                "tokens": {"type": "array", "items": {"type": "object"}}
                            },
                        },
                        "Tokens",
                    ),
                    **_errors(401, 503),
                },
            ),
        },
        "/tokens/{token_id}": {
            "delete": _op(
                "Revoke a join token",
                {
                    "200": _json(
                        {"type": "object", "required": ["deleted"], "properties": {"deleted": STR}},
                        "Revoked",
                    ),
                    **_errors(401, 404, 503),
                },
                parameters=[
                    {
                        "name": "token_id",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1},
                    }
                ],
            )
        },
        "/live": {
            "get": _op(
                "Changes pushed as Server-Sent Events (the web UI's feed)",
                {
                    "200": {
                        "description": "snapshot, then event/deployment/removed/node messages",
                        "content": {"text/event-stream": {"schema": {"type": "string"}}},
                    },
                    **_errors(401),
                },
            )
        },
        "/ui": {
            "get": _op(
                "The web UI; needs no token",
                {"200": {"description": "HTML", "content": {"text/html": {"schema": STR}}}},
                security=[],
            )
        },
        "/ui/{name}": {
            "get": _op(
                "The web UI's static files; need no token",
                {
                    "200": {"description": "A file", "content": {"*/*": {"schema": STR}}},
                    **_errors(404),
                },
                security=[],
                parameters=[
                    {
                        "name": "name",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "minLength": 1},
                    }
                ],
            )
        },
        "/docs": {
            "get": _op(
                "An API explorer page; needs no token",
                {
                    "200": {
                        "description": "HTML",
                        "content": {"text/html": {"schema": {"type": "string"}}},
                    }
                },
                security=[],
            )
        },
    }


#: Rules the spec model checks in validators, which its JSON schema cannot show; stated
#: here so that generated clients (and fuzzers) know them too.
NAME_PATTERN = "^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$"
CLASS_PATTERN = "^[A-Za-z][A-Za-z0-9_.-]{0,62}$"
GROUP_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"


def _tighten(spec: dict[str, Any], defs: dict[str, Any]) -> None:
    props = spec["properties"]
    props["name"].update(pattern=NAME_PATTERN, description="A DNS label; generated if absent")
    props["capacity_requests"]["propertyNames"] = {"pattern": CLASS_PATTERN}
    props["node_group"]["anyOf"][0]["pattern"] = GROUP_PATTERN
    command = defs.get("ExecConfig", {}).get("properties", {}).get("command")
    if command is not None:
        command["minItems"] = 1


def _with_admission_errors(paths: dict[str, Any]) -> dict[str, Any]:
    """Every operation may meet the checks made before any route (see api/hosts.py and
    api/body.py): 421 for an unknown Host, 403 for a cross-site change, 415 for a body
    that is not JSON."""
    for item in paths.values():
        for method, op in item.items():
            if method == "parameters":
                continue
            codes = [421]
            if method not in ("get", "head"):
                codes.append(403)
            if method in ("post", "put", "patch"):
                codes.append(415)
            op["responses"] = {**op["responses"], **_errors(*codes)}
    return paths


@functools.cache
def openapi_document(version: str = "0") -> dict[str, Any]:
    """The whole OpenAPI document (built once per version string)."""
    from symphony.spec import DeploymentSpec

    spec_schema = DeploymentSpec.json_schema()
    defs = spec_schema.pop("$defs", {})
    _tighten(spec_schema, defs)
    # pydantic points at "#/$defs/X"; in OpenAPI the shared home is components/schemas.
    text = json.dumps(spec_schema).replace('"#/$defs/', '"#/components/schemas/')
    defs_text = json.dumps(defs).replace('"#/$defs/', '"#/components/schemas/')
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Symphony Conductor API",
            "version": version,
            "description": "Deployments, their instances and logs, nodes, metrics. "
            "Errors are JSON {error, detail}. Send 'Authorization: Bearer <token>' "
            "(the token is in the Conductor's state directory, file api-token).",
        },
        "security": [{"bearerAuth": []}],
        "paths": _with_admission_errors(_paths()),
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": {
                **json.loads(defs_text),
                "DeploymentSpec": json.loads(text),
                **SCHEMAS,
            },
        },
    }


@api_docs.get("/openapi.json")
async def openapi_json() -> dict[str, Any]:
    from .app import context

    return openapi_document(context().version)


@api_docs.get("/docs")
async def docs_page() -> Response:
    return Response(DOCS_HTML, status=200, content_type="text/html; charset=utf-8")
