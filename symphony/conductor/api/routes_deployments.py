"""Deployments: create, list, read, change, delete.

Reads come from the store (every acknowledged change is committed there first); the
whole list comes from a snapshot shared by concurrent requests (:mod:`.snapshots`).
Writes go through the Deployments actor, which owns the reconciliation.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, Response

from symphony.spec import DeploymentSpec, SpecError, merge_patch, parse_spec

from ..deployments import CreateDeployment, DeleteDeployment, Failed, UpdateDeployment
from ..deployments.messages import Created
from ..gitrefs import GitRefError, commit_patch
from ..store import DeploymentRecord, NameConflict, NotFound
from ..uploads import referenced_upload
from .app import context
from .body import json_body
from .context import ApiContext
from .errors import Answer, HttpError, response_of
from .instance_usage import current_usage, with_current_usage
from .jsonout import json_compact
from .models_queries import DeploymentsQuery
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

#: What an experiment decides for each of its processes: one instance (``SYMPH_*`` holds
#: one address per name), running or stopped with the whole experiment, no schedule.
SET_BY_EXPERIMENT = ("replicas", "desired_state", "schedule")

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


def view(record: DeploymentRecord, ctx: ApiContext | None = None) -> dict[str, Any]:
    """The deployment with its stored instances (``ctx``: outside Quart's request)."""
    store = (ctx or context()).store
    return deployment_json(record, store.list_instances(deployment_id=record.id))


async def one(record: DeploymentRecord) -> dict[str, Any]:
    """The deployment with its instances' current CPU and RSS (asked of the registry)."""
    return (await with_current_usage([view(record)]))[0]


@deployments.post("/deployments")
async def create() -> Response:
    return response_of(await create_answer(context(), await json_body()))


async def create_answer(ctx: ApiContext, data: Any) -> Answer:
    """A create of the spec ``data`` (a decoded body): its 201, or an ``HttpError``.

    The one place a single create is made: this route and :mod:`.lean` both serve
    ``POST /deployments`` through it.
    """
    spec = await prepared_spec(data, ctx)
    created: Created | DeploymentRecord = refused(
        await ctx.deployments.ask(CreateDeployment(spec, with_instances=True), timeout=30)
    )
    # Instances created a moment ago have not been measured: no registry ask on the
    # create path, their figures are null. The answer carries the first instances,
    # committed with the deployment: nothing to read back.
    if isinstance(created, Created):
        answer = deployment_json(created.record, list(created.instances))
    else:
        answer = view(created, ctx)
    return Answer(201, json_compact(answer) + b"\n")


async def prepared_spec(data: Any, ctx: ApiContext) -> DeploymentSpec:
    """A create's spec, validated, with its git commit recorded (422 if refused)."""
    try:
        spec = parse_spec(data)
    except SpecError as error:
        raise HttpError(422, "invalid spec", error.errors) from None
    if spec.experiment is not None:
        raise HttpError(422, "invalid spec", [OWNED_BY_EXPERIMENT])
    found = await _git_commit(spec)
    if found:
        spec = spec.patched(found)
    _check_upload(spec, ctx)
    return spec


@deployments.get("/deployments")
async def list_all() -> Response:
    # Every deployment and instance: one shared read (and JSON body) for all concurrent
    # listings, made off the event loop; it shows every write acknowledged before.
    # The instances' CPU and RSS are current figures, not stored: added per listing,
    # to copies of the snapshot's shared views. A page or a filter cuts the same read.
    query = query_params(DeploymentsQuery)
    reads = context().shared_reads()
    if not query.pages():
        body = await reads.listing(await current_usage(), view=query.view)
        return Response(body, content_type="application/json")
    try:
        after = None if query.cursor is None else key_of_cursor(query.cursor)
    except BadCursor as error:
        raise HttpError(400, "bad parameter", f"cursor: {error}") from None
    usage = await current_usage()
    body = await reads.page(
        query.chosen(), after=after, limit=query.limit, usage=usage, view=query.view
    )
    return Response(body, content_type="application/json")


@deployments.get("/deployments/<id_or_name>")
async def get(id_or_name: str) -> dict[str, Any]:
    return await one(find(id_or_name))


#: A deployment keeps a name: without one a new one would be made from its command, and
#: every later request by the old name would find nothing.
KEEPS_ITS_NAME = {
    "path": "name",
    "message": "a deployment's name cannot be removed; give a new name to rename it",
}


@deployments.patch("/deployments/<id_or_name>")
async def patch(id_or_name: str) -> dict[str, Any]:
    data = await json_body()
    if not isinstance(data, dict):
        raise HttpError(400, "malformed request", "a PATCH body is a JSON object (merge patch)")
    if "experiment" in data:
        raise HttpError(422, "invalid spec", [OWNED_BY_EXPERIMENT])
    if "name" in data and data["name"] is None:  # a merge patch's null removes the field
        raise HttpError(422, "invalid spec", [KEEPS_ITS_NAME])
    record = find(id_or_name)
    _refuse_experiments_fields(record, data)
    data = await _with_git_commit(record.spec, data)
    updated: DeploymentRecord = refused(
        await context().deployments.ask(UpdateDeployment(record.id, data), timeout=30)
    )
    return await one(updated)


def _refuse_experiments_fields(record: DeploymentRecord, patch: dict[str, Any]) -> None:
    """A process of an experiment takes no change of what its experiment sets."""
    role = record.spec.experiment
    if role is None:
        return
    detail = [
        {
            "path": field,
            "message": f"deployment {record.name} is process {role.process} of experiment "
            f"{role.name}, which sets its {field}: watch it with `symphony p {role.name}`; "
            f"stop or start the whole experiment (PATCH /experiments/{role.name})",
        }
        for field in SET_BY_EXPERIMENT
        if field in patch
    ]
    if role.group is not None and "node_group" in patch:
        # Checked for the whole group when the experiment was made; one process moved
        # alone would split a group that must run on one node.
        detail.append(
            {
                "path": "node_group",
                "message": f"deployment {record.name} is process {role.process} of process "
                f"group {role.group} of experiment {role.name}, whose processes run on "
                "one node: the node group is the whole group's, set in the experiment",
            }
        )
    if detail:
        raise HttpError(422, "invalid spec", detail)


async def _git_commit(
    spec: DeploymentSpec, previous: DeploymentSpec | None = None
) -> dict[str, Any] | None:
    """Record ``config.git``'s commit once per version of the spec (see ``gitrefs``)."""
    try:
        return await commit_patch(spec, previous)
    except GitRefError as error:
        detail = [{"path": "config.git.ref", "message": str(error)}]
        raise HttpError(422, "invalid spec", detail) from None


def _check_upload(spec: DeploymentSpec, ctx: ApiContext) -> None:
    """An ``upload:`` image must name an upload this Conductor has (known at submit)."""
    sha = referenced_upload(spec.config.image)
    uploads = ctx.uploads
    if sha is not None and (uploads is None or uploads.path(sha) is None):
        detail = [{"path": "config.image", "message": f"no upload {sha} on this Conductor"}]
        raise HttpError(422, "invalid spec", detail)


async def _with_git_commit(current: DeploymentSpec, patch: dict[str, Any]) -> dict[str, Any]:
    """``patch`` plus the commit its git source resolves to, when it moves the source."""
    if "config" not in patch:
        return patch
    try:
        preview = current.patched(patch)
    except SpecError:
        return patch  # the Deployments actor refuses it with the same errors
    _check_upload(preview, context())
    found = await _git_commit(preview, current)
    return patch if found is None else merge_patch(patch, found)


@deployments.delete("/deployments/<id_or_name>")
async def delete(id_or_name: str) -> dict[str, Any]:
    record = find(id_or_name)
    if (role := record.spec.experiment) is not None:
        # The experiment owns its processes: one deleted alone left it without it.
        raise HttpError(
            409,
            "conflict",
            f"deployment {record.name} is process {role.process} of experiment {role.name}: "
            f"delete the experiment (DELETE /experiments/{role.name}, symphony d "
            f"{role.name}), or stop it (PATCH /experiments/{role.name})",
        )
    refused(await context().deployments.ask(DeleteDeployment(record.id), timeout=DELETE_TIMEOUT))
    return {"deleted": record.id, "name": record.name}
