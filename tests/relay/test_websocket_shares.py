"""A visitor's share of the relayed WebSockets, and the size of their messages.

The Conductor relays at most 32 services' WebSockets: one visitor (one client address)
could take all of them. Now each address has a share of them
(``conductor.relay.websockets_per_client``), and a message through ``/x/`` is at most
``conductor.relay.websocket_max_message`` bytes each way (1009 past it), which together
bound what relayed WebSockets can make the Conductor hold.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import trio
import trio_websocket

from ..api.helpers import cluster
from .helpers import ports, wait_served, web_experiment
from .test_websocket_bounds import UPGRADE

LIMIT = 64 * 1024


async def _open_from(
    nursery: trio.Nursery, url: str, token: bytes, source: str, streams: list[trio.SocketStream]
) -> trio_websocket.WebSocketConnection:
    """A WebSocket to ``url`` from the local address ``source`` (another visitor)."""
    parts = urlsplit(url)
    assert parts.hostname is not None and parts.port is not None
    stream = await trio.open_tcp_stream(parts.hostname, parts.port, local_address=source)
    streams.append(stream)  # closed by the test: trio-websocket leaves it open
    return await trio_websocket.wrap_client_stream(
        nursery, stream, parts.hostname, parts.path, extra_headers=[(b"Authorization", token)]
    )


async def test_relay_websockets_one_client_address_gets_its_share_only(tmp_path: Path) -> None:
    async with cluster(
        tmp_path,
        node_overrides=ports(),
        relay_websockets_per_client=1,
        relay_websocket_max_message=LIMIT,
    ) as c:
        assert (await c.http.post("/experiments", json=web_experiment())).status_code == 201
        await wait_served(c.http, "/x/web/ui/prefix")
        assert c.info.relay_url is not None  # where browsers open it; the share spans ports
        url = c.info.relay_url.replace("http://", "ws://") + "/x/web/ui/echo"
        token = c.http.headers["Authorization"].encode()
        streams: list[trio.SocketStream] = []
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                first = await _open_from(nursery, url, token, "127.0.0.1", streams)
                refused = await c.http.get("/x/web/ui/echo", headers=UPGRADE)
                assert refused.status_code == 503, refused.text
                assert "share of one client address" in refused.json()["detail"]
                other = await _open_from(
                    nursery, url, token, "127.0.0.2", streams
                )  # another visitor
                await other.send_message("hi")
                assert await other.get_message() == "echo:hi"
                # Up to the limit a message goes through; past it the socket closes, 1009.
                await first.send_message("m" * (LIMIT - 8))
                assert len(await first.get_message()) == LIMIT - 8 + len("echo:")
                await first.send_message("m" * (LIMIT + 1))
                try:
                    await first.get_message()
                    raise AssertionError("a message over the limit went through")
                except trio_websocket.ConnectionClosed as closed:
                    assert closed.reason.code == 1009, closed.reason
                await other.aclose()
                nursery.cancel_scope.cancel()
        for stream in streams:
            await trio.aclose_forcefully(stream)
        c.nursery.cancel_scope.cancel()
