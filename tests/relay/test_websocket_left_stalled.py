"""A visitor who leaves while its last message is still going to a service that reads
nothing frees its slot.

The route reads a visitor's next message only once it passed the last one on: while it
waited for such a service, nothing read the visitor's socket, so a visitor gone went
unnoticed and kept its slot (of the Conductor's and of its address's share) and the
messages held for it until the service read or closed. Four addresses could so hold all
of a Conductor's relayed WebSockets for everyone. Now the reader asks the server every
second meanwhile whether the visitor's connection ended (its TCP state).
"""

from __future__ import annotations

import socket
import struct
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import trio
import trio_websocket

from symphony.conductor.api import proxy_ws

from ..api.helpers import cluster
from .helpers import ports, wait_served, web_experiment
from .test_websocket_bounds import SIZE, STALL


async def test_a_visitor_leaving_while_its_message_waits_for_the_service_frees_its_slot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(proxy_ws, "MAX_SERVICE_WEBSOCKETS", 1)
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
                # The visitor leaves, abruptly: its kernel resets the connection (a
                # FIN would queue behind the bytes the Conductor has not read).
                stream.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                await trio.aclose_forcefully(stream)
                nursery.cancel_scope.cancel()
        # Its slot is free again soon (it used to stay held while the service read nothing).
        with trio.fail_after(10):
            while True:
                again = await trio.open_tcp_stream(parts.hostname, parts.port)
                refused = False
                try:
                    async with trio.open_nursery() as nursery:
                        await trio_websocket.wrap_client_stream(
                            nursery, again, parts.hostname, parts.path, extra_headers=headers
                        )
                        nursery.cancel_scope.cancel()
                except* trio_websocket.ConnectionRejected as group:
                    refused = True
                    assert all(e.status_code == 503 for e in group.exceptions), group  # type: ignore[attr-defined]
                finally:
                    await trio.aclose_forcefully(again)
                if not refused:
                    break
                await trio.sleep(0.1)
        c.nursery.cancel_scope.cancel()
