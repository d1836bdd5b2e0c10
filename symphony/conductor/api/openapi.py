"""The document of ``GET /openapi.json`` (OpenAPI 3.1), generated; the routes that
serve it and ``GET /docs`` (an explorer) are in :mod:`.routes_docs`.

The document is built from the route table (:mod:`.routes_table`) and the pydantic
models it names: the deployment spec and request bodies the API validates with, and the
models of its answers. Nothing in it is written by hand, so it is as strict as the
server (``additionalProperties: false``, minimums, patterns) and cannot drift from it;
a schemathesis run in the tests checks every answer against it.
"""

from __future__ import annotations

import functools
import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import models
from .routes_table import PATH_PARAMS, ROUTES, Route

JSON = "application/json"
REF = "#/components/schemas/{model}"
ERROR_WORDS = {
    400: "Malformed request or parameter",
    401: "Missing or wrong API token",
    403: "A change sent from a web page of another origin",
    404: "No such deployment, instance or path",
    409: "Conflict (a name in use; an instance with no logs yet)",
    413: "Body larger than 1 MiB",
    415: "A body that is not declared as application/json",
    421: "The Host header names a host this Conductor does not answer to",
    422: "Invalid spec or body; detail lists {path, message}",
    502: "The node refused a relayed stream, or the service did not answer HTTP",
    503: "A node or a Conductor component cannot answer now",
    504: "The node did not answer in time",
}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": schema}}}


def _errors(route: Route) -> dict[str, Any]:
    # Every operation may meet the checks made before any route (api/hosts.py and
    # api/body.py): 421 for an unknown Host, 403 for a cross-site change, 415 for a
    # body that is not JSON.
    codes = [*route.errors, 421]
    if route.method not in ("get", "head"):
        codes.append(403)
    if route.method in ("post", "put", "patch"):
        codes.append(415)
    return {str(c): _json(_ref(models.Error), ERROR_WORDS[c]) for c in sorted(set(codes))}


def _parameters(route: Route, schemas: dict[str, Any]) -> list[dict[str, Any]]:
    params = []
    for name in re.findall(r"{(\w+)}", route.path):
        description, schema = PATH_PARAMS[name]
        params.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "description": description,
                "schema": {"type": "string", **schema},
            }
        )
    if route.query is not None:
        for name, prop in schemas[route.query.__name__]["properties"].items():
            prop = dict(prop)
            prop.pop("title", None)
            description = prop.pop("description", "")
            options = [o for o in prop.pop("anyOf", []) if o.get("type") != "null"]
            schema = {**options[0], **prop} if options else prop
            params.append(
                {
                    "name": name,
                    "in": "query",
                    "required": False,
                    "description": description,
                    "schema": schema,
                }
            )
    return params


def _operation(route: Route, schemas: dict[str, Any]) -> dict[str, Any]:
    if isinstance(route.answer, str):
        schema = {"type": "object"} if route.answer == JSON else {"type": "string"}
        ok = {"description": "OK", "content": {route.answer: {"schema": schema}}}
    else:
        ok = _json(_ref(route.answer), (route.answer.__doc__ or "OK").split("\n")[0])
    op: dict[str, Any] = {"summary": route.summary, "responses": {str(route.status): ok}}
    op["responses"].update({str(status): ok for status in route.also})
    op["responses"].update(_errors(route))
    if route.body is not None:
        op["requestBody"] = {
            "required": route.body_required,
            "content": {JSON: {"schema": _ref(route.body)}},
        }
    params = _parameters(route, schemas)
    if params:
        op["parameters"] = params
    if route.public:
        op["security"] = []
    return op


def _schemas() -> dict[str, Any]:
    wanted: list[type[BaseModel]] = [models.Error]
    for route in ROUTES:
        for model in (route.answer, route.body, route.query):
            if isinstance(model, type) and model not in wanted:
                wanted.append(model)
    _, top = models_json_schema([(m, "validation") for m in wanted], ref_template=REF)
    schemas: dict[str, Any] = top.get("$defs", {})
    return schemas


@functools.cache
def openapi_document(version: str = "0") -> dict[str, Any]:
    """The whole OpenAPI document (built once per version string)."""
    schemas = _schemas()
    paths: dict[str, Any] = {}
    for route in ROUTES:
        paths.setdefault(route.path, {})[route.method] = _operation(route, schemas)
    for route in ROUTES:  # query models are parameters, not components
        if route.query is not None:
            schemas.pop(route.query.__name__, None)
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
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
            "schemas": schemas,
        },
    }
