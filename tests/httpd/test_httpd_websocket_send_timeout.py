"""A WebSocket whose app bounds its sends (``symphony.send_timeout``) is given up once
its client takes nothing for that long, and the app's waiting ``receive()`` ends too.

Without the bound a client that stopped reading (or went away without a FIN or reset:
its network lost) held its socket for as long as the kernel kept retransmitting; and
a write cut short only marked the socket broken, while the app's reader still waited
on it for an answer that never came.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import pytest
import trio
import trio.testing

from symphony.httpd import Scope

from .helpers import serving

UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def test_httpd_a_websocket_taking_nothing_past_its_send_timeout_is_given_up(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    ended: dict[str, Any] = {}
    done = trio.Event()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            raise RuntimeError("no lifespan here")
        await receive()
        scope["extensions"]["symphony.send_timeout"](5.0)
        await send({"type": "websocket.accept"})
        async with trio.open_nursery() as nursery:

            async def listen() -> None:  # as Quart's reader does, all along
                ended["event"] = await receive()
                ended["at"] = trio.current_time()

            nursery.start_soon(listen)
            for _ in range(4096):  # 256 MiB: far more than the socket buffers hold
                await send({"type": "websocket.send", "bytes": b"x" * 65536})
        done.set()

    async with serving(app, write_timeout=1) as port:
        reader = await trio.open_tcp_stream("127.0.0.1", port)
        await reader.send_all(UPGRADE)
        start = trio.current_time()
        with trio.fail_after(60):
            await done.wait()
        # The bound (not the server's write_timeout, 1 s) after its last progress.
        assert 5 <= ended["at"] - start < 7
        assert ended["event"]["type"] == "websocket.disconnect"
        await reader.aclose()
    gave_up = [r for r in caplog.records if "gave up" in r.getMessage()]
    assert [r.levelno for r in gave_up] == [logging.WARNING], gave_up
    assert "/ws of 127.0.0.1:" in gave_up[0].getMessage()
    assert "took nothing sent to it in 5 s" in gave_up[0].getMessage()


@pytest.mark.parametrize("seconds", [0, -1, float("nan"), float("inf"), 0.5, 1e9, 86401])
async def test_httpd_a_send_timeout_outside_a_second_to_a_day_is_refused_and_the_socket_opens(
    autojump_clock: trio.testing.MockClock, seconds: float
) -> None:
    # A huge bound once passed, and the kernel's TCP_USER_TIMEOUT (milliseconds in an
    # int) then failed the accept: the client got no 101.
    refused: list[str] = []

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            raise RuntimeError("no lifespan here")
        await receive()
        try:
            scope["extensions"]["symphony.send_timeout"](seconds)
        except ValueError as error:
            refused.append(str(error))
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.close"})

    async with serving(app) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        async with stream:
            await stream.send_all(UPGRADE)
            answer = await stream.receive_some(1024)
    assert answer.startswith(b"HTTP/1.1 101 ")
    assert refused == [f"a send timeout must be 1 to 86400 seconds, not {seconds!r}"]


def test_httpd_the_kernels_user_timeout_takes_any_bound() -> None:
    # Milliseconds past an int's range raised from setsockopt (OverflowError, TypeError)
    # in the accept: the bound is clamped to the most the kernel takes.
    from symphony.httpd._websocket import _user_timeout

    server = socket.create_server(("127.0.0.1", 0))
    with server, socket.create_connection(server.getsockname()) as sock:
        for seconds in (1e12, 1e300, 5.0):
            _user_timeout(sock, seconds)
        if hasattr(socket, "TCP_USER_TIMEOUT"):
            assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT) == 5000


async def test_httpd_a_refusal_cut_by_write_timeout_ends_a_waiting_receive_as_a_disconnect(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The refusal's body stalls (its client reads nothing): the write is cut and the
    # socket aborted while a reader task still waits for the decision, watching the
    # socket. The close woke that watch with trio's ClosedResourceError, which escaped
    # into the app's receive().
    got: list[Any] = []
    done = trio.Event()

    async def app(scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "websocket":
            raise RuntimeError("no lifespan here")
        await receive()
        async with trio.open_nursery() as nursery:

            async def listen() -> None:  # as Quart's reader does, at once
                try:
                    got.append(await receive())
                except Exception as error:
                    got.append(error)

            nursery.start_soon(listen)
            await trio.sleep(0.1)  # the reader waits for the decision
            await send({"type": "websocket.http.response.start", "status": 401, "headers": []})
            part = {"type": "websocket.http.response.body", "body": b"x" * 65536, "more_body": True}
            for _ in range(4096):  # 256 MiB: far more than the socket buffers hold
                await send(part)
        done.set()

    async with serving(app, write_timeout=1) as port:
        reader = await trio.open_tcp_stream("127.0.0.1", port)
        await reader.send_all(UPGRADE)
        with trio.fail_after(60):
            await done.wait()
        await reader.aclose()
    assert len(got) == 1 and isinstance(got[0], dict), got
    assert got[0]["type"] == "websocket.disconnect"
