"""``GET /deployments/{id}/logs``: an instance's stdout or stderr, read from its node.

``tail`` lines (default 100), or with ``since`` those that arrived since then
(``timestamps`` puts each line's arrival time in front), then, with ``follow``, new
lines as the job writes them, streamed until the client disconnects or the instance has
ended (no response timeout on that stream); a followed stream's last line then says how
and when it ended (``[symphony] exited with code 0 at 2026-11-26 15:19:28 UTC``). Works
for running and exited instances alike: the node keeps the files (until its log
retention deletes those of instances it no longer holds: docs/jobs.md).

A request waiting for its node when the node's link closes ends then, not at its own
timeout: a tail is answered 503 (its lines are on the node, to be read once it is back),
a follow ends with a line that says how the link closed.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import TYPE_CHECKING

import trio
from quart import Blueprint, Response, current_app

from symphony.wire.states import holds_capacity, is_live

from ..nodes.model import GetSession
from ..store import InstanceRecord
from .app import context
from .errors import HttpError
from .params import query_params
from .routes_deployments import find

if TYPE_CHECKING:
    from .logfeed import LogFeed

logs = Blueprint("logs", __name__)

#: How long a connected node may take to send a whole tail (a closed link ends the wait
#: at once).
TAIL_TIMEOUT = 30.0
#: How often a quiet follow stream checks for shutdown and for its node's link.
FOLLOW_IDLE_CHECK = 0.5

TEXT = "text/plain; charset=utf-8"


def pick_instance(instances: list[InstanceRecord], wanted: str | None) -> InstanceRecord:
    """The instance ``wanted`` (its id or replica number), else the first live one on a
    node (lowest replica), else the one that ran most recently."""
    if wanted is not None:
        for inst in instances:
            if inst.id == wanted:
                return inst
        if wanted.isdigit():
            replica = int(wanted)
            same = [i for i in instances if i.replica == replica]
            if same:
                return max(same, key=lambda i: (is_live(i.state), i.updated_at))
        raise HttpError(
            404, "not found", f"no instance {wanted!r} (an instance id or a replica number)"
        )
    live = sorted((i for i in instances if holds_capacity(i.state)), key=lambda i: i.replica)
    if live:
        return live[0]
    ran = [i for i in instances if i.node_id is not None]
    if ran:
        return max(ran, key=lambda i: (i.started_at or 0.0, i.updated_at))
    if instances:
        return instances[0]
    raise HttpError(404, "not found", "this deployment has no instances yet")


@logs.get("/deployments/<id_or_name>/logs")
async def deployment_logs(id_or_name: str) -> Response:
    ctx = context()
    from .models_logs import LogsQuery  # with the first request: see .models_base

    params = query_params(LogsQuery)
    tail, follow, stream, wanted = params.lines(), params.follow, params.stream, params.instance
    record = find(id_or_name)
    inst = pick_instance(ctx.store.list_instances(deployment_id=record.id), wanted)
    if inst.node_id is None:
        raise HttpError(
            409, "no logs", f"instance {inst.id} is {inst.state} and has not run on a node yet"
        )
    session = await ctx.registry.ask(GetSession(inst.node_id), timeout=5)
    if session is None:
        raise HttpError(
            503,
            "node not connected",
            f"instance {inst.id} ran on node {inst.node_id!r}, which is not connected now; "
            "its logs are on that node and can be read once it reconnects",
        )
    headers = {"X-Symphony-Instance": inst.id, "X-Symphony-Node": inst.node_id}
    from .logfeed import LogFeed  # with the first log read

    feed = LogFeed(
        session,
        inst.id,
        stream=stream,
        tail=tail,
        follow=follow,
        since_ns=params.since_ns(),
        timestamps=params.timestamps,
    )
    if follow:
        store, instance_id = ctx.store, inst.id
        return _follow(feed, headers, lambda: store.get_instance(instance_id))
    parts: list[bytes] = []
    async with feed:
        with trio.move_on_after(TAIL_TIMEOUT):
            async for data in feed.chunks(idle=TAIL_TIMEOUT, stop=trio.Event()):
                parts.append(data)
        if feed.link_closed is not None:  # answered at once, not at the timeout
            raise HttpError(
                503,
                "node link closed",
                f"{feed.link_closed} before it sent the logs of instance {inst.id}; they"
                " are on that node and can be read once it reconnects",
            )
        if not feed.ended:
            raise HttpError(504, "node timeout", f"node {inst.node_id!r} did not send the logs")
        if feed.refused is not None and (params.since is not None or params.timestamps):
            raise HttpError(409, "no log times", feed.refused)
    return Response(b"".join(parts), status=200, headers=headers, content_type=TEXT)


def end_note(inst: InstanceRecord | None) -> bytes:
    """The last line of a followed stream: how and when the instance ended.

    >>> end_note(None)
    b'[symphony] the instance was removed\\n'
    """
    if inst is None:
        return b"[symphony] the instance was removed\n"
    how = f"killed by {inst.signal}" if inst.signal else None
    if how is None and inst.exit_code is not None:
        how = f"exited with code {inst.exit_code}"
    if inst.state == "failed":
        what = f"failed: {inst.reason}" if inst.reason else "failed"
    elif inst.state in ("stopped", "lost"):
        what = inst.state + (f" ({how})" if how else "")
    else:
        what = how or inst.state
    at = time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(inst.finished_at or time.time()))
    return f"[symphony] {what} at {at}\n".encode()


def _follow(
    feed: LogFeed, headers: dict[str, str], current: Callable[[], InstanceRecord | None]
) -> Response:
    """Stream the feed until the client leaves, the Conductor closes, or the instance
    has ended (then a last line says how, and the stream ends: ``logs -f`` of a
    finished instance prints what there is and returns)."""
    # The generator runs after this handler returned, outside the app context: take
    # what it needs now.
    closing: trio.Event = current_app.config["SYMPHONY_CLOSING"]

    def ended() -> bool:
        inst = current()
        return inst is None or inst.finished_at is not None

    async def body() -> AsyncIterator[bytes]:
        feed_chunks = feed.chunks(idle=FOLLOW_IDLE_CHECK, stop=closing, until=ended)
        async with feed, aclosing(feed_chunks) as chunks:
            async for data in chunks:
                yield data
        if ended():
            yield end_note(current())

    response = Response(body(), status=200, headers=headers, content_type=TEXT)
    response.timeout = None  # a follow lasts as long as the client wants it
    return response
