"""``GET /deployments/{id}/events``: a deployment's history, oldest first, paged by id.

``after`` is a cursor (the ``id`` of the last event seen; the reply's ``next_after``),
``limit`` caps the page. A client follows a deployment by asking again with
``after=next_after``.
"""

from __future__ import annotations

from typing import Any

from quart import Blueprint

from .app import context
from .models_queries import EventsQuery
from .params import query_params
from .routes_deployments import find
from .views import event_json

events = Blueprint("events", __name__)


@events.get("/deployments/<id_or_name>/events")
async def deployment_events(id_or_name: str) -> dict[str, Any]:
    params = query_params(EventsQuery)
    after, limit = params.after, params.limit
    record = find(id_or_name)
    found = context().store.list_events(deployment_id=record.id, after_id=after, limit=limit)
    return {
        "events": [event_json(e) for e in found],
        "next_after": found[-1].id if found else after,
    }
