"""``GET /deployments/{id}/events``: a deployment's history, oldest first, paged by id.

``after`` is a cursor (the ``id`` of the last event seen; the reply's ``next_after``),
``limit`` caps the page. A client follows a deployment by asking again with
``after=next_after``.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from .app import context
from .params import int_param
from .routes_deployments import find
from .views import event_json

events = Blueprint("events", __name__)

MAX_LIMIT = 1000
#: Ids are SQLite rowids (signed 64-bit).
MAX_ID = 2**63 - 1


@events.get("/deployments/<id_or_name>/events")
async def deployment_events(id_or_name: str) -> dict[str, Any]:
    after = int_param("after", 0, low=0, high=MAX_ID) or 0
    limit = int_param("limit", 100, low=1, high=MAX_LIMIT) or 100
    record = find(id_or_name)
    found = context().store.list_events(deployment_id=record.id, after_id=after, limit=limit)
    return {
        "events": [event_json(e) for e in found],
        "next_after": found[-1].id if found else after,
    }
