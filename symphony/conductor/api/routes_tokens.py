"""Join tokens over HTTP: ``POST /tokens``, ``GET /tokens``, ``DELETE /tokens/{id}``.

``POST /tokens`` with ``{"ttl_seconds": 3600, "reusable": false}`` (both optional; an
empty body takes the defaults) answers 201 with the token, shown this once and never
stored, beside what a node needs to use it::

    {"token": "symjt1.<id>.<secret>", "id": "<id>", "expires_at": 1767225600.0,
     "single_use": true, "ca_hash": "sha256:...", "join_addr": "10.0.0.5:50051",
     "join_command": "symphony node --join 10.0.0.5:50051 --token ... --ca-hash ..."}

``GET /tokens`` lists tokens without secrets; ``DELETE /tokens/{id}`` revokes one.
The routes sit behind the API token like every other non-public route.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from quart import Blueprint, current_app, request

from .body import json_body, parse_body
from .errors import ApiError
from .models import DEFAULT_TTL, TokenRequest

if TYPE_CHECKING:
    from ..join import JoinService

__all__ = ["DEFAULT_TTL", "JOIN_SERVICE_KEY", "tokens"]

#: Where the Conductor puts its :class:`~symphony.conductor.join.JoinService` in the app config.
JOIN_SERVICE_KEY = "SYMPHONY_JOIN"

tokens = Blueprint("tokens", __name__)


def _join() -> JoinService:
    join: JoinService | None = current_app.config.get(JOIN_SERVICE_KEY)
    if join is None:
        raise ApiError(503, "joining disabled", "this Conductor does not enrol nodes")
    return join


async def _options() -> tuple[float, bool]:
    body = parse_body(TokenRequest, await json_body(empty={}))
    return body.ttl_seconds, body.reusable


@tokens.post("/tokens")
async def create_token() -> tuple[dict[str, Any], int, dict[str, str]]:
    join = _join()
    ttl, reusable = await _options()
    try:
        created = join.create_token(ttl=ttl, single_use=not reusable)
    except ValueError as error:
        raise ApiError(422, "invalid request", str(error)) from None
    join_addr = await join.join_addr(request.host.rsplit(":", 1)[0].strip("[]") or "127.0.0.1")
    body = {
        "token": created.token,
        "id": created.id,
        "expires_at": created.expires_at,
        "single_use": created.single_use,
        "ca_hash": created.ca_fingerprint,
        "join_addr": join_addr,
        "join_command": (
            f"symphony node --node-id NODE_ID --join {join_addr or 'HOST:PORT'} "
            f"--token {created.token} --ca-hash {created.ca_fingerprint}"
        ),
    }
    return body, 201, {"Cache-Control": "no-store"}


@tokens.get("/tokens")
async def list_tokens() -> dict[str, Any]:
    now = time.time()
    return {
        "tokens": [
            {
                "id": record.id,
                "created_at": record.created_at,
                "expires_at": record.expires_at,
                "single_use": record.single_use,
                "used_at": record.used_at,
                "usable": record.usable(now),
            }
            for record in _join().store.list_join_tokens()
        ]
    }


@tokens.delete("/tokens/<token_id>")
async def delete_token(token_id: str) -> dict[str, Any]:
    if not _join().store.delete_join_token(token_id):
        raise ApiError(404, "not found", f"no join token {token_id!r:.40}")
    return {"deleted": token_id}
