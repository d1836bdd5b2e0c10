"""Start and stop: the lifespan, bound addresses, graceful shutdown, cancellation."""

from __future__ import annotations

import socket
from functools import partial
from typing import Any

import pytest
import trio

from symphony.httpd import LifespanFailure, Scope, serve

from .helpers import echo_app, responses


async def test_httpd_failed_startup_fails_the_server_start() -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        assert scope["type"] == "lifespan"
        await receive()
        await send({"type": "lifespan.startup.failed", "message": "no database"})

    with pytest.raises(LifespanFailure, match="no database"):
        await serve(app, host="127.0.0.1", port=0, shutdown_trigger=trio.sleep_forever)


async def test_httpd_lifespan_runs_around_the_serving() -> None:
    events: list[str] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                events.append(message["type"])
                await send({"type": message["type"] + ".complete"})
                if message["type"] == "lifespan.shutdown":
                    return
        await echo_app(scope, receive, send)

    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(
            partial(serve, app, host="::1", port=0, shutdown_trigger=stop.wait)
        )
        assert urls[0].startswith("http://[::1]:")  # IPv6, with the port picked
        assert events == ["lifespan.startup"]
        stop.set()
    assert events == ["lifespan.startup", "lifespan.shutdown"]


async def test_httpd_stop_closes_idle_connections_and_lets_busy_ones_finish(
    autojump_clock: trio.testing.MockClock,
) -> None:
    release = trio.Event()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError
        if scope["path"] == "/slow":
            await release.wait()
        await echo_app(scope, receive, send)

    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(
            partial(serve, app, host="127.0.0.1", port=0, shutdown_trigger=stop.wait)
        )
        port = int(urls[0].rsplit(":", 1)[1])
        idle = await trio.open_tcp_stream("127.0.0.1", port)
        await idle.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        assert responses(await idle.receive_some(65536))[0][0] == 200  # now kept alive
        busy = await trio.open_tcp_stream("127.0.0.1", port)
        await busy.send_all(b"GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
        await trio.sleep(0.1)
        stop.set()
        start = trio.current_time()
        assert await idle.receive_some(100) == b""  # at once, not after keep-alive's 5 s
        assert trio.current_time() - start < 0.1
        release.set()
        raw = b""
        while chunk := await busy.receive_some(65536):
            raw += chunk
        await idle.aclose()
        await busy.aclose()
        [(status, headers, body)] = responses(raw)
        assert status == 200 and headers[b"connection"] == b"close" and body == b"GET /slow "


async def test_httpd_stop_cancels_requests_past_the_graceful_timeout(
    autojump_clock: trio.testing.MockClock,
) -> None:
    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            raise RuntimeError
        await trio.sleep_forever()

    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(
            partial(serve, app, host="127.0.0.1", port=0, shutdown_trigger=stop.wait)
        )
        stream = await trio.open_tcp_stream("127.0.0.1", int(urls[0].rsplit(":", 1)[1]))
        await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        await trio.sleep(0.1)
        start = trio.current_time()
        stop.set()
    await stream.aclose()
    assert 1.0 <= trio.current_time() - start < 1.5  # the default graceful_timeout


async def test_httpd_cancelled_server_leaves_no_task() -> None:
    tasks = trio.lowlevel.current_root_task().child_nurseries[0].child_tasks
    before = len(tasks)
    with trio.move_on_after(0.5):
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(
                partial(
                    serve, echo_app, host="127.0.0.1", port=0, shutdown_trigger=trio.sleep_forever
                )
            )
            stream = await trio.open_tcp_stream("127.0.0.1", int(urls[0].rsplit(":", 1)[1]))
            await stream.send_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
            await trio.sleep_forever()
    await stream.aclose()
    assert len(tasks) == before


async def test_httpd_stop_serves_a_new_connections_first_request(
    autojump_clock: trio.testing.MockClock,
) -> None:
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(
            partial(serve, echo_app, host="127.0.0.1", port=0, shutdown_trigger=stop.wait)
        )
        port = int(urls[0].rsplit(":", 1)[1])
        # Connected (the kernel accepted it) with its request sent as the stop comes:
        # answered, not reset.
        fresh = await trio.open_tcp_stream("127.0.0.1", port)
        await fresh.send_all(b"GET /late HTTP/1.1\r\nHost: x\r\n\r\n")
        stop.set()
        raw = b""
        while chunk := await fresh.receive_some(65536):
            raw += chunk
        await fresh.aclose()
    [(status, _, body)] = responses(raw)  # then the connection closed
    assert status == 200 and body == b"GET /late "


async def test_httpd_stop_serves_connections_still_in_the_backlog() -> None:
    # A client connects and sends its request in the very moment the stop comes: the
    # trigger itself connects (a blocking socket, no checkpoint) and returns, so the
    # server's accept loop never saw the connection, which waits in the kernel's
    # backlog as the listener is about to close. It must be answered, not reset.
    stop = trio.Event()
    late: list[socket.socket] = []

    async def trigger() -> None:
        await stop.wait()
        late.append(socket.create_connection(("127.0.0.1", port)))
        late[0].sendall(b"GET /queued HTTP/1.1\r\nHost: x\r\n\r\n")

    async with trio.open_nursery() as nursery:
        urls = await nursery.start(
            partial(serve, echo_app, host="127.0.0.1", port=0, shutdown_trigger=trigger)
        )
        port = int(urls[0].rsplit(":", 1)[1])
        stop.set()
    raw = await trio.to_thread.run_sync(_read_all, late[0])
    [(status, _, body)] = responses(raw)
    assert status == 200 and body == b"GET /queued "


def _read_all(sock: socket.socket) -> bytes:
    """What the server sent until it closed the connection (a reset raises)."""
    with sock:
        sock.settimeout(10)
        raw = b""
        while chunk := sock.recv(65536):
            raw += chunk
        return raw
