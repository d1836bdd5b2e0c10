"""A visitor who leaves while its last message is still going to a service that reads
nothing frees its slot.

The route reads a visitor's next message only once it passed the last one on: while it
waited for such a service, nothing read the visitor's socket, so a visitor gone went
unnoticed and kept its slot (of the Conductor's and of its address's share) and the
messages held for it until the service read or closed. Four addresses could so hold all
of a Conductor's relayed WebSockets for everyone. Now the reader asks the server every
second meanwhile whether the visitor's connection ended (its TCP state).

A visitor that closes normally has its FIN queued behind the bytes the Conductor has
not read: its kernel keeps probing our zero window, then gives up and drops the
connection without a word (no reset), and our side of it stayed established for good.
TCP keepalive, armed on a socket whose route waits so, finds it then.
"""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import trio
import trio_websocket

from symphony.conductor.api import proxy_ws

from ..api.helpers import cluster
from .helpers import ports, wait_served, web_experiment, websocket_refused
from .test_websocket_bounds import SIZE, STALL


async def _stall_leave_and_wait_for_the_slot(
    tmp_path: Path, leave: Callable[[socket.socket], None], within: float
) -> float:
    """A visitor fills every buffer on its way to a service that reads nothing, then
    ``leave`` prepares its socket and it closes; returns how long until its slot (the
    only one) takes a new visitor, failing past ``within`` seconds."""
    async with cluster(tmp_path, node_overrides=ports()) as c:
        assert (await c.http.post("/experiments", json=web_experiment())).status_code == 201
        await wait_served(c.http, "/x/web/ui/prefix")
        assert c.info.relay_url is not None  # where browsers open it
        url = c.info.relay_url.replace("http://", "ws://") + "/x/web/ui/sink"
        parts = urlsplit(url)
        assert parts.hostname is not None and parts.port is not None
        headers = [(b"Authorization", c.http.headers["Authorization"].encode())]
        data = b"m" * SIZE
        with trio.fail_after(120):
            stream = await trio.open_tcp_stream(parts.hostname, parts.port)
            async with trio.open_nursery() as nursery:
                ws = await trio_websocket.wrap_client_stream(
                    nursery, stream, parts.hostname, parts.path, extra_headers=headers
                )
                while True:  # until every buffer on the way to the service is full
                    with trio.move_on_after(STALL) as wait:
                        await ws.send_message(data)
                    if wait.cancelled_caught:
                        break
                leave(stream.socket)  # type: ignore[arg-type]
                await trio.aclose_forcefully(stream)
                nursery.cancel_scope.cancel()
        left = trio.current_time()
        with trio.fail_after(within):
            while await websocket_refused(url, headers):
                await trio.sleep(0.1)
        took = trio.current_time() - left
        c.nursery.cancel_scope.cancel()
        return took


def _reset(sock: socket.socket) -> None:
    """Leave abruptly: the kernel resets the connection at the close."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


def _give_up_soon(sock: socket.socket) -> None:
    """Close normally, and have the kernel give up probing our zero window after a
    second instead of minutes (TCP_USER_TIMEOUT): what every kernel does in the end."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, 1000)


async def test_a_visitor_leaving_while_its_message_waits_for_the_service_frees_its_slot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(proxy_ws, "MAX_SERVICE_WEBSOCKETS", 1)
    # Its slot is free again soon (it used to stay held while the service read nothing).
    await _stall_leave_and_wait_for_the_slot(tmp_path, _reset, within=10)


async def test_a_visitor_closing_normally_behind_its_own_stalled_send_frees_its_slot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its FIN waits behind the bytes we have not read; its kernel drops the connection
    silently once it gives up (minutes with Linux's defaults, a second here). Our side
    stayed established, its slot held until the service read (for ever here): now
    keepalive's probe meets the reset of a kernel that no longer knows the connection."""
    monkeypatch.setattr(proxy_ws, "MAX_SERVICE_WEBSOCKETS", 1)
    await _stall_leave_and_wait_for_the_slot(tmp_path, _give_up_soon, within=40)
