"""Secrets over HTTP: ``POST /secrets``, ``GET /secrets``, ``DELETE /secrets/{name}``.

``POST /secrets`` with ``{"name": "hf-token", "value": "hf_..."}`` seals and stores the
value (201 when new, 200 when it replaced one); ``GET /secrets`` lists names and dates;
``DELETE /secrets/{name}`` removes one (409 while a deployment references it). No
answer ever carries a value (see :mod:`symphony.conductor.secrets`). A secret set again
reaches the instances started after it (``symphony restart NAME``); running ones keep
theirs.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint, current_app

from symphony.spec import secret_refs

from ..secrets import SecretVault
from ..store import SecretRecord
from .app import context
from .body import json_body, parse_body
from .errors import HttpError

__all__ = ["SECRETS_KEY", "secrets"]

#: Where the Conductor puts its :class:`~symphony.conductor.secrets.SecretVault`.
SECRETS_KEY = "SYMPHONY_SECRETS"

secrets = Blueprint("secrets", __name__)
_NO_STORE = {"Cache-Control": "no-store"}


def vault() -> SecretVault:
    found: SecretVault | None = current_app.config.get(SECRETS_KEY)
    if found is None:
        raise HttpError(503, "secrets disabled", "this Conductor keeps no secrets")
    return found


def _json(record: SecretRecord) -> dict[str, Any]:
    return {"name": record.name, "created_at": record.created_at, "updated_at": record.updated_at}


@secrets.post("/secrets")
async def set_secret() -> tuple[dict[str, Any], int, dict[str, str]]:
    from .models_secrets import SecretRequest  # with the first request: see .models_base

    body = parse_body(SecretRequest, await json_body())
    record, created = vault().set(body.name, body.value)
    return {**_json(record), "created": created}, 201 if created else 200, _NO_STORE


@secrets.get("/secrets")
async def list_secrets() -> dict[str, Any]:
    return {"secrets": [_json(record) for record in vault().records()]}


@secrets.delete("/secrets/<secret_name>")
async def delete_secret(secret_name: str) -> dict[str, Any]:
    name = secret_name
    users = sorted(
        record.name
        for record in context().store.list_deployments()
        if name in secret_refs(record.spec).values()
    )
    if users:
        raise HttpError(
            409,
            "secret in use",
            f"secret {name!r:.80} is referenced by deployment(s) {', '.join(users)}: "
            "change or delete them first",
        )
    if not vault().delete(name):
        raise HttpError(404, "not found", f"no secret {name!r:.80}")
    return {"deleted": name}
