"""Rolling updates: a deployment's versions, promoting its canaries, rolling back, a
rolling restart.

A version is one template of the spec (see ``deployments/versions.py``); the store
keeps the last ten. Promote, rollback and restart go through the Deployments actor, like
every other change of a deployment.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from ..deployments.messages import PromoteDeployment, RestartDeployment, RollbackDeployment
from ..store import DeploymentRecord
from .app import context
from .body import json_body, parse_body
from .routes_deployments import find, one, refused
from .views import version_json

versions = Blueprint("versions", __name__)


@versions.get("/deployments/<id_or_name>/versions")
async def list_versions(id_or_name: str) -> dict[str, Any]:
    record = find(id_or_name)
    kept = context().store.list_versions(record.id)
    return {"versions": [version_json(v, record.version) for v in kept]}


@versions.post("/deployments/<id_or_name>/promote")
async def promote(id_or_name: str) -> dict[str, Any]:
    record = find(id_or_name)
    message = PromoteDeployment(record.id)
    updated: DeploymentRecord = refused(await context().deployments.ask(message, timeout=30))
    return await one(updated)


@versions.post("/deployments/<id_or_name>/rollback")
async def rollback(id_or_name: str) -> dict[str, Any]:
    # The body first, as for every write: an answer sent before the request's body was
    # read would leave the client waiting to finish sending it.
    from .models_versions import RollbackRequest  # with the first request: see .models_base

    body = parse_body(RollbackRequest, await json_body(empty={}))
    record = find(id_or_name)
    message = RollbackDeployment(record.id, body.version)
    updated: DeploymentRecord = refused(await context().deployments.ask(message, timeout=30))
    return await one(updated)


@versions.post("/deployments/<id_or_name>/restart")
async def restart(id_or_name: str) -> dict[str, Any]:
    # A new version of the same template, rolled as an update (deployments/restarting.py).
    record = find(id_or_name)
    message = RestartDeployment(record.id)
    updated: DeploymentRecord = refused(await context().deployments.ask(message, timeout=30))
    return await one(updated)
