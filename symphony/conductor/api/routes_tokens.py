"""Join tokens over HTTP: ``POST /tokens``, ``GET /tokens``, ``DELETE /tokens/{id}``.

``POST /tokens`` with ``{"ttl_seconds": 3600, "reusable": false, "node_id": "gpu-7",
"groups": ["gpu"], "capacities": {"Analytic1": 10}}`` (all optional; an empty body takes
the defaults and binds nothing) answers 201 with the token, shown this once and never
stored, beside what a node needs to use it::

    {"token": "symjt1.<id>.<secret>", "id": "<id>", "expires_at": 1767225600.0,
     "single_use": true, "node_id": "gpu-7", "groups": ["gpu"],
     "capacities": {"Analytic1": 10}, "ca_hash": "sha256:...",
     "join_addr": "10.0.0.5:50051",
     "join_command": "symphony node --node-id gpu-7 --conductor 10.0.0.5:50051 --join ..."}

``node_id``, ``groups`` and ``capacities`` bind a node that joins with the token: it
may claim only that id, those groups and at most those capacities, at the join and at
every later hello (:mod:`symphony.conductor.binding`); null in an answer means unbound.
``GET /tokens`` lists tokens without secrets; ``DELETE /tokens/{id}`` revokes one.
The routes sit behind the API token like every other non-public route.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any

from quart import Blueprint, current_app, request

from ..binding import JoinBinding
from .body import json_body, parse_body
from .errors import HttpError

if TYPE_CHECKING:
    from ..join import JoinService

__all__ = ["JOIN_SERVICE_KEY", "tokens"]

#: Where the Conductor puts its :class:`~symphony.conductor.join.JoinService` in the app config.
JOIN_SERVICE_KEY = "SYMPHONY_JOIN"

tokens = Blueprint("tokens", __name__)


def _join() -> JoinService:
    join: JoinService | None = current_app.config.get(JOIN_SERVICE_KEY)
    if join is None:
        raise HttpError(503, "joining disabled", "this Conductor does not enrol nodes")
    return join


_BINDING_FIELDS = ("node_id", "groups", "capacities")


async def _options() -> tuple[float, bool, JoinBinding | None]:
    from .models_tokens import TokenRequest  # with the first request: see .models_base

    body = parse_body(TokenRequest, await json_body(empty={}))
    try:
        # The model checked each field by the wire's rules already; this builds the
        # binding the store keeps (and refuses anything the two might ever disagree on).
        binding = JoinBinding.parse(
            body.model_dump(include=set(_BINDING_FIELDS), exclude_none=True)
        )
    except ValueError as error:
        raise HttpError(422, "invalid request", str(error)) from None
    return body.ttl_seconds, body.reusable, binding


def join_command(
    join_addr: str | None, token: str, ca_hash: str, binding: JoinBinding | None
) -> str:
    """The complete ``symphony node`` line for a node that joins with this token."""
    addr = join_addr or "HOST:PORT"
    node_id = binding.node_id if binding is not None and binding.node_id else "NODE_ID"
    words = ["symphony node --node-id", node_id, "--conductor", addr, "--join", addr]
    words += ["--token", token, "--ca-hash", ca_hash]
    if binding is not None:
        words += [f"--group {g}" for g in binding.groups or ()]
        words += [f"--capacity {k}={v}" for k, v in sorted((binding.capacities or {}).items())]
    return " ".join(words)


@tokens.post("/tokens")
async def create_token() -> tuple[dict[str, Any], int, dict[str, str]]:
    join = _join()
    ttl, reusable, binding = await _options()
    try:
        created = join.create_token(ttl=ttl, single_use=not reusable, binding=binding)
    except ValueError as error:
        raise HttpError(422, "invalid request", str(error)) from None
    join_addr = await join.join_addr(request.host.rsplit(":", 1)[0].strip("[]") or "127.0.0.1")
    body = {
        "token": created.token,
        "id": created.id,
        "expires_at": created.expires_at,
        "single_use": created.single_use,
        **_bound(binding),
        "ca_hash": created.ca_fingerprint,
        "join_addr": join_addr,
        "join_command": join_command(join_addr, created.token, created.ca_fingerprint, binding),
    }
    return body, 201, {"Cache-Control": "no-store"}


def _bound(binding: JoinBinding | None) -> dict[str, Any]:
    """The three binding fields of an answer (null: not bound)."""
    bound = binding.to_json() if binding is not None else {}
    return {name: bound.get(name) for name in _BINDING_FIELDS}


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
                **_bound(record.binding),
            }
            for record in _join().store.list_join_tokens()
        ]
    }


@tokens.delete("/tokens/<token_id>")
async def delete_token(token_id: str) -> dict[str, Any]:
    if not _join().store.delete_join_token(token_id):
        raise HttpError(404, "not found", _no_token(token_id))
    return {"deleted": token_id}


def _no_token(token_id: str) -> str:
    """The 404's detail: the id repeated only when it is shaped like one (what else is
    in the path may be a whole token, its secret included).

    >>> _no_token("4f1c2a9e8b7d6c5a")
    "no join token '4f1c2a9e8b7d6c5a'"
    >>> _no_token("symjt1.4f1c2a9e8b7d6c5a.c2VjcmV0")
    "no join token with that id (an id is the part after 'symjt1.', not the whole token)"
    """
    if re.fullmatch(r"[0-9a-f]{1,32}", token_id):
        return f"no join token {token_id!r}"
    return "no join token with that id (an id is the part after 'symjt1.', not the whole token)"
