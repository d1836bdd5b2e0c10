"""Deployments: create, list, read, change, delete.

Reads come from the store (every acknowledged change is committed there first); the
whole list comes from a snapshot shared by concurrent requests (:mod:`.snapshots`).
Writes go through the Deployments actor, which owns the reconciliation.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response

from symphony.spec import SpecError, parse_spec

from ..deployments import CreateDeployment, DeleteDeployment, Failed, UpdateDeployment
from ..store import DeploymentRecord, NameConflict, NotFound
from .app import context
from .body import json_body
from .errors import HttpError
from .instance_usage import current_usage, with_current_usage
from .models import DeploymentsQuery
from .paging import BadCursor, key_of_cursor
from .params import query_params
from .views import deployment_json

deployments = Blueprint("deployments", __name__)

#: Why a deployment's ``experiment`` field is refused here: the Conductor sets it.
OWNED_BY_EXPERIMENT = {
    "path": "experiment",
    "message": "set by the Conductor for the processes of an experiment; create and "
    "change experiments with /experiments",
}

#: How long a DELETE may wait for every process group to stop.
DELETE_TIMEOUT = 120.0


def refused(result: Any) -> Any:
    """Turn an actor's :class:`Failed` reply into the right HTTP error."""
    if not isinstance(result, Failed):
        return result
    error = result.error
    if isinstance(error, SpecError):
        raise HttpError(422, "invalid spec", error.errors)
    if isinstance(error, NameConflict):
        raise HttpError(409, "name conflict", str(error))
    if isinstance(error, NotFound):
        raise HttpError(404, "not found", str(error))
    raise HttpError(409, "conflict", str(error))  # GenerationConflict: changed meanwhile


def find(id_or_name: str) -> DeploymentRecord:
    record = context().store.get_deployment(id_or_name)
    if record is None:
        raise HttpError(404, "not found", f"no deployment with id or name {id_or_name!r}")
    return record


def view(record: DeploymentRecord) -> dict[str, Any]:
    return deployment_json(record, context().store.list_instances(deployment_id=record.id))


async def one(record: DeploymentRecord) -> dict[str, Any]:
    """The deployment with its instances' current CPU and RSS (asked of the registry)."""
    return (await with_current_usage([view(record)]))[0]


@deployments.post("/deployments")
async def create() -> tuple[dict[str, Any], int]:
    data = await json_body()
    try:
        spec = parse_spec(data)
    except SpecError as error:
        raise HttpError(422, "invalid spec", error.errors) from None
    if spec.experiment is not None:
        raise HttpError(422, "invalid spec", [OWNED_BY_EXPERIMENT])
    record: DeploymentRecord = refused(
        await context().deployments.ask(CreateDeployment(spec), timeout=30)
    )
    # Instances created a moment ago have not been measured: no registry ask on the
    # create path, their figures are null.
    return view(record), 201


@deployments.get("/deployments")
async def list_all() -> Response:
    # Every deployment and instance: one shared read (and JSON body) for all concurrent
    # listings, made off the event loop; it shows every write acknowledged before.
    # The instances' CPU and RSS are current figures, not stored: added per listing,
    # to copies of the snapshot's shared views. A page or a filter cuts the same read.
    query = query_params(DeploymentsQuery)
    reads = context().shared_reads()
    if not query.pages():
        body = await reads.listing(await current_usage())
        return Response(body, content_type="application/json")
    try:
        after = None if query.cursor is None else key_of_cursor(query.cursor)
    except BadCursor as error:
        raise HttpError(400, "bad parameter", f"cursor: {error}") from None
    usage = await current_usage()
    body = await reads.page(query.chosen(), after=after, limit=query.limit, usage=usage)
    return Response(body, content_type="application/json")


@deployments.get("/deployments/<id_or_name>")
async def get(id_or_name: str) -> dict[str, Any]:
    return await one(find(id_or_name))


@deployments.patch("/deployments/<id_or_name>")
async def patch(id_or_name: str) -> dict[str, Any]:
    data = await json_body()
    if not isinstance(data, dict):
        raise HttpError(400, "malformed request", "a PATCH body is a JSON object (merge patch)")
    if "experiment" in data:
        raise HttpError(422, "invalid spec", [OWNED_BY_EXPERIMENT])
    record = find(id_or_name)
    updated: DeploymentRecord = refused(
        await context().deployments.ask(UpdateDeployment(record.id, data), timeout=30)
    )
    return await one(updated)


@deployments.delete("/deployments/<id_or_name>")
async def delete(id_or_name: str) -> dict[str, Any]:
    record = find(id_or_name)
    refused(await context().deployments.ask(DeleteDeployment(record.id), timeout=DELETE_TIMEOUT))
    return {"deleted": record.id, "name": record.name}
