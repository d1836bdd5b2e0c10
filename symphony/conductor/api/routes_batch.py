"""``POST /deployments:batch``: several deployments created together, all or none.

Every item is checked before anything is created, as ``POST /deployments`` checks one:
any bad item makes the whole batch a 400 whose ``detail`` names each bad item's index
and what is wrong with it (a spec's ``{path, message}`` list, a name used twice in the
batch, a name already taken). Only then are the items created, in one transaction, and
the answer lists them in the order they came::

    POST /deployments:batch
    {"deployments": [{"name": "web-1", "config": {"command": ["sleep", "60"]}},
                     {"name": "web-2", "config": {"command": ["sleep", "60"]}}]}

    201 {"deployments": [{"id": "d_...", "name": "web-1", ...}, {"id": "d_...", ...}]}
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from ..deployments import CreateDeployments, Failed
from ..deployments.creating import BatchRefused
from ..store import DeploymentRecord, NameConflict
from .app import context
from .body import json_body
from .errors import HttpError
from .routes_deployments import prepared_spec, refused, view

batch = Blueprint("batch", __name__)

#: The most deployments one batch may create. One batch is one transaction and one
#: message to the Deployments manager, which starts every supervisor before it answers
#: anything else: the cap bounds that pause (about 0.1 s here) as well as the body.
#: Here, not beside the body's model (:mod:`.models_batch`, which declares it to
#: ``/openapi.json``): that model needs every answer's, which a serving Conductor
#: loads only with the document.
MAX_BATCH = 200

#: How long the whole batch may take to be stored and started.
BATCH_TIMEOUT = 60.0


@batch.post("/deployments:batch")
async def create_batch() -> tuple[dict[str, Any], int]:
    items = _items(await json_body())
    specs, problems = [], []
    seen: dict[str, int] = {}  # name -> the first item that has it
    for index, item in enumerate(items):
        try:
            spec = await prepared_spec(item, context())
        except HttpError as error:
            problems.append({"index": index, "error": error.error, "detail": error.detail})
            continue
        if spec.name in seen:
            problems.append(_twice(index, spec.name, seen[spec.name]))
        seen.setdefault(spec.name, index)
        specs.append(spec)
    if problems:
        raise HttpError(400, "invalid batch", problems)
    answer = await context().deployments.ask(CreateDeployments(tuple(specs)), timeout=BATCH_TIMEOUT)
    if isinstance(answer, Failed) and isinstance(answer.error, BatchRefused):
        raise _refused(answer.error)
    records: list[DeploymentRecord] = refused(answer)
    return {"deployments": [view(record) for record in records]}, 201


def _items(data: Any) -> list[Any]:
    """The batch's items, or a 400 saying what is wrong with the body's shape."""
    if not isinstance(data, dict) or set(data) != {"deployments"}:
        raise HttpError(400, "malformed request", 'the body is {"deployments": [spec, ...]}')
    items = data["deployments"]
    if not isinstance(items, list):
        raise HttpError(400, "malformed request", "deployments: a list of specs")
    if not 1 <= len(items) <= MAX_BATCH:
        raise HttpError(
            400,
            "malformed request",
            f"deployments: between 1 and {MAX_BATCH} specs per batch, got {len(items)}",
        )
    return items


def _twice(index: int, name: str, first: int) -> dict[str, Any]:
    detail = f"the name {name!r} is used by item {first} of this batch already"
    return {"index": index, "error": "name conflict", "detail": detail}


def _refused(error: BatchRefused) -> HttpError:
    """Items the Deployments manager refused: names taken (409) or specs it would not
    accept, such as an unknown secret (400)."""
    problems = [
        {
            "index": index,
            "error": "name conflict" if isinstance(item, NameConflict) else "invalid spec",
            "detail": str(item) if isinstance(item, NameConflict) else item.errors,
        }
        for index, item in error.problems.items()
    ]
    if error.only_conflicts:
        return HttpError(409, "name conflict", problems)
    return HttpError(400, "invalid batch", problems)
