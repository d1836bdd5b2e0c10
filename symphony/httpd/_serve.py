"""``serve``: listen, run a connection task per client, stop gracefully.

The order, as Hypercorn's: the app's lifespan starts before the first connection is
accepted and stops after the last one ended. On ``shutdown_trigger``: no more accepts,
idle connections close at once, busy ones get ``graceful_timeout`` to finish their
request (then they are cancelled). Cancelling ``serve`` itself leaves no task behind.
"""

from __future__ import annotations

import errno
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import trio

from ._http import HttpConnection
from ._lifespan import Lifespan, LifespanFailure
from ._scope import bind_url
from ._settings import ServerSettings
from ._shutdown import Shutdown
from ._types import ASGIApp

log = logging.getLogger("symphony.httpd")

#: The settings ``serve`` uses when given none.
DEFAULTS = ServerSettings()
#: accept() errors that mean "out of resources for now": wait, do not stop serving.
_TRANSIENT = {errno.EMFILE, errno.ENFILE, errno.ENOMEM, errno.ENOBUFS}
#: How long the stop waits for one more connection already in the listener's backlog.
_BACKLOG_WAIT = 0.001


async def serve(
    app: ASGIApp,
    *,
    host: str,
    port: int,
    shutdown_trigger: Callable[[], Awaitable[Any]],
    settings: ServerSettings = DEFAULTS,
    task_status: trio.TaskStatus[list[str]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Serve ``app`` on ``host:port`` until ``shutdown_trigger()`` returns.

    ``task_status`` gets the bound URLs (``http://127.0.0.1:8000``; port 0 is the port
    picked). Example, in a nursery::

        urls = await nursery.start(partial(serve, app, host="127.0.0.1", port=0,
                                           shutdown_trigger=stop.wait))
    """
    # Bound first: a port in use fails the start plainly, before the app starts.
    listeners = await trio.open_tcp_listeners(port, host=host)
    try:
        state: dict[str, Any] = {}
        lifespan = Lifespan(app, state)
        failure: LifespanFailure | None = None
        async with trio.open_nursery() as lifespan_nursery:
            await lifespan_nursery.start(lifespan.run)
            try:
                await lifespan.startup()
            except LifespanFailure as error:  # raised below, not in the nursery's group
                failure = error
                lifespan_nursery.cancel_scope.cancel()
            else:
                await _serve(app, listeners, shutdown_trigger, settings, state, task_status)
                await lifespan.shutdown()
                lifespan_nursery.cancel_scope.cancel()
        if failure is not None:
            raise failure
    finally:
        for listener in listeners:
            listener.socket.close()  # no await: also when cancelled


async def _serve(
    app: ASGIApp,
    listeners: list[trio.SocketListener],
    shutdown_trigger: Callable[[], Awaitable[Any]],
    settings: ServerSettings,
    state: dict[str, Any],
    task_status: trio.TaskStatus[list[str]],
) -> None:
    """Serve from the app's startup until the trigger, then stop (see the module)."""
    shutdown = Shutdown()

    def connection(stream: trio.SocketStream) -> HttpConnection:
        return HttpConnection(app, stream, settings, shutdown, state)

    async with trio.open_nursery() as connections:
        async with trio.open_nursery() as accepting:
            for listener in listeners:
                accepting.start_soon(_accept, listener, connections, connection)
            sockets = [listener.socket for listener in listeners]
            task_status.started([bind_url(s.family, s.getsockname()) for s in sockets])
            await shutdown_trigger()
            accepting.cancel_scope.cancel()
        shutdown.close()
        for listener in listeners:
            await _accept_waiting(listener, connections, connection)
            listener.socket.close()  # new clients are refused from now on
        connections.cancel_scope.deadline = trio.current_time() + settings.graceful_timeout


async def _accept(
    listener: trio.SocketListener,
    nursery: trio.Nursery,
    connection: Callable[[trio.SocketStream], HttpConnection],
) -> None:
    while True:
        try:
            stream = await listener.accept()
        except OSError as error:
            if error.errno not in _TRANSIENT:
                raise
            log.error("accept failed (%s): waiting a moment", error)
            await trio.sleep(0.1)
            continue
        nursery.start_soon(_serve_connection, connection(stream))


async def _accept_waiting(
    listener: trio.SocketListener,
    nursery: trio.Nursery,
    connection: Callable[[trio.SocketStream], HttpConnection],
) -> None:
    """Serve the connections the kernel accepted already (closing the listener would
    reset them, requests sent and all).

    ``accept()`` tries the socket at once and waits only if nothing is there, but it
    checks for cancellation first: under a deadline already passed it would never try.
    So the deadline is a moment ahead: the try happens, the wait after it is cut short.
    """
    while True:
        with trio.move_on_after(_BACKLOG_WAIT) as scope:
            stream = await listener.accept()
        if scope.cancelled_caught:
            return
        nursery.start_soon(_serve_connection, connection(stream))


async def _serve_connection(conn: HttpConnection) -> None:
    try:
        await conn.run()
    except Exception:  # one connection's failure never stops the server
        log.exception("a connection failed")
