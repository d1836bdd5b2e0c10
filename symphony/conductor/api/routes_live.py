"""``GET /live``: what changes in the Conductor, pushed as Server-Sent Events (the web UI).

What the stream carries, and how it is made, is :mod:`.live_feed`, imported with the
first stream: a Conductor no browser watches does not hold it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import aclosing

import trio
from quart import Blueprint, Response, current_app

from .app import context
from .params import query_params

live = Blueprint("live", __name__)


@live.get("/live")
async def live_stream() -> Response:
    from .live_feed import EVENT_BUFFER, changes
    from .models_live import LiveQuery  # with the first request: see .models_base

    query = query_params(LiveQuery)  # a bad view is a 400 here, before the stream begins
    ctx = context()
    # The generator runs after this handler returned, outside the app context.
    closing: trio.Event = current_app.config["SYMPHONY_CLOSING"]

    async def body() -> AsyncIterator[bytes]:
        with ctx.events.subscribe(EVENT_BUFFER) as events:
            async with aclosing(changes(ctx, events, closing, view=query.view)) as stream:
                async for chunk in stream:
                    yield chunk

    response = Response(
        body(),
        status=200,
        content_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
    response.timeout = None  # the stream lasts as long as the page stays open
    return response
