"""A relayed WebSocket whose visitor takes nothing of what the Conductor sends it for
``conductor.relay.send_timeout`` is given up, and its slot freed.

A visitor that stops reading while the service sends fills its own TCP window, then
ours: our send waits. If that visitor then goes away without a FIN or a reset reaching
us (a laptop's lid closed, its network gone), keepalive does not probe (data is
queued) and the send waited until the kernel's retransmissions gave up: minutes with
Linux's defaults, the WebSocket's slot (of its address's share, of the Conductor's few)
and its buffered messages held all along. Eight such visitors locked an address out.

Here the visitor stays but reads nothing: the Conductor cannot tell it from one gone
(both leave its send without progress), and the test need not wait minutes for a
kernel. A visitor that reads slowly but steadily is not cut off: each 64 KiB it takes
starts the bound anew.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import trio
import trio_websocket

from symphony.conductor.api import proxy_ws

from ..api.helpers import cluster
from .helpers import ports, wait_served, web_experiment, websocket_refused
from .test_port_forward import echo_experiment
from .test_port_forward_stop import _forward, _wait_echo

#: The bound the tests set (the default is 30 s), and how much later than it the slot
#: may come free (the route notices, a loaded machine): generous, it is real time.
SEND_TIMEOUT = 2.0
SLACK = 20.0
#: The bound of a test that must see the visitor's slot still held after the stall began
#: (its check, a WebSocket opened and refused, must end within it on a loaded machine),
#: and of the slow reader's (its pace must not meet the bound's edge under load).
LONG_SEND_TIMEOUT = 8.0
SLOW_SEND_TIMEOUT = 5.0
#: A still visitor's receive buffer: small, so that it fills after little. (Not the slow
#: reader's: on loopback, whose segments are 64 KiB, a window this small never opens
#: to a whole segment, and the kernel's TCP_USER_TIMEOUT counts that as no progress.)
RCVBUF = 4096


@asynccontextmanager
async def _visitor(
    url: str, headers: list[tuple[bytes, bytes]], *, rcvbuf: int | None = RCVBUF
) -> AsyncIterator[trio_websocket.WebSocketConnection]:
    """A WebSocket to ``url`` (from a socket with a receive buffer of ``rcvbuf`` bytes,
    None: the kernel's) that reads only what the test asks (trio-websocket's reader
    stops once it holds one message)."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    sock = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    await sock.connect((parts.hostname, parts.port))
    stream = trio.SocketStream(sock)
    try:
        async with trio.open_nursery() as nursery:
            ws = await trio_websocket.wrap_client_stream(
                nursery,
                stream,
                parts.hostname,
                parts.path,
                extra_headers=headers,
                message_queue_size=0,
            )
            yield ws
            nursery.cancel_scope.cancel()
    finally:
        await trio.aclose_forcefully(stream)


async def _wait_for_a_slot(
    url: str, headers: list[tuple[bytes, bytes]], bound: float = SEND_TIMEOUT
) -> float:
    """Seconds until a new WebSocket to ``url`` is accepted, failing past ``bound``."""
    start = trio.current_time()
    with trio.fail_after(bound + SLACK):
        while await websocket_refused(url, headers):
            await trio.sleep(0.1)
    return trio.current_time() - start


async def test_a_visitor_that_takes_nothing_sent_to_it_loses_its_websocket_and_slot(
    tmp_path: Path,
) -> None:
    overrides = {"relay_websockets_per_client": 1, "relay_send_timeout": LONG_SEND_TIMEOUT}
    async with cluster(tmp_path, node_overrides=ports(), **overrides) as c:
        assert (await c.http.post("/experiments", json=web_experiment())).status_code == 201
        await wait_served(c.http, "/x/web/ui/prefix")
        assert c.info.relay_url is not None  # where browsers open it
        base = c.info.relay_url.replace("http://", "ws://")
        headers = [(b"Authorization", c.http.headers["Authorization"].encode())]
        async with _visitor(base + "/x/web/ui/spray", headers) as ws:
            await ws.get_message()  # open and flowing; from now on it reads nothing
            # Its address's one slot is taken: the next is refused (the stall may have
            # begun already: the bound is long, so that this check ends well within it).
            assert await websocket_refused(base + "/x/web/ui/echo", headers)
            # Held for good before: the service's sends wait on this visitor for ever.
            await _wait_for_a_slot(base + "/x/web/ui/echo", headers, LONG_SEND_TIMEOUT)
            # Given up: what it reads now ends (its socket was cut, no Close could pass).
            with trio.fail_after(10), pytest.raises(trio_websocket.ConnectionClosed):
                while True:
                    await ws.get_message()
        c.nursery.cancel_scope.cancel()


async def test_a_port_forward_whose_client_takes_nothing_frees_its_slot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(proxy_ws, "FORWARDS_PER_CLIENT", 1)
    async with cluster(tmp_path, node_overrides=ports(), relay_send_timeout=SEND_TIMEOUT) as c:
        assert (await c.http.post("/experiments", json=echo_experiment())).status_code == 201
        await _wait_echo(c.info)
        url, headers = _forward(c.info)
        async with _visitor(url, headers) as ws:
            # It sends and never reads the echo: the echo fills its window, the echo
            # service's sends wait, so do its reads, and our sends to it: all stalled.
            data = b"e" * (64 * 1024)
            with trio.fail_after(60):
                while True:
                    with trio.move_on_after(SEND_TIMEOUT / 2) as wait:
                        await ws.send_message(data)
                    if wait.cancelled_caught:
                        break
            await _wait_for_a_slot(url, headers)
        c.nursery.cancel_scope.cancel()


async def test_a_visitor_reading_slowly_but_steadily_keeps_its_websocket(
    tmp_path: Path,
) -> None:
    """It takes a message (256 KiB) every half bound: slower than the service sends,
    so our send waits on it all the time, but never a whole bound without progress
    (three bounds long)."""
    bound = SLOW_SEND_TIMEOUT
    async with cluster(tmp_path, node_overrides=ports(), relay_send_timeout=bound) as c:
        assert (await c.http.post("/experiments", json=web_experiment())).status_code == 201
        await wait_served(c.http, "/x/web/ui/prefix")
        assert c.info.relay_url is not None
        url = c.info.relay_url.replace("http://", "ws://") + "/x/web/ui/spray"
        headers = [(b"Authorization", c.http.headers["Authorization"].encode())]
        async with _visitor(url, headers, rcvbuf=None) as ws:
            with trio.fail_after(60):
                for _ in range(6):
                    assert len(await ws.get_message()) == 256 * 1024
                    await trio.sleep(bound / 2)
                assert len(await ws.get_message()) == 256 * 1024
        c.nursery.cancel_scope.cancel()
