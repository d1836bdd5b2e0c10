"""A client that leaves while the app has not yet accepted its WebSocket is noticed.

An app may take long to decide (the Conductor's ``/x/`` relay waits for a node to hand
over a stream, then for the service's own upgrade: up to 10 s each). A client that left
meanwhile used to go unnoticed until the app decided, holding one of the few relayed
WebSockets the Conductor allows. Now the app's ``receive()`` gives
``websocket.disconnect`` (1006) as soon as the client's end of the socket closes.
"""

from __future__ import annotations

from typing import Any

import trio
import trio.testing

from .helpers import serving

UPGRADE = (
    b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
)


async def test_httpd_websocket_client_leaving_before_the_accept_is_told_to_the_app(
    autojump_clock: trio.testing.MockClock,
) -> None:
    events: list[dict[str, Any]] = []
    deciding = trio.Event()

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        assert scope["type"] == "websocket"
        events.append(await receive())  # websocket.connect
        deciding.set()
        # Quart-Trio's reader asks for the next event at once, while the route decides.
        events.append(await receive())

    async with serving(app) as port:
        stream = await trio.open_tcp_stream("127.0.0.1", port)
        await stream.send_all(UPGRADE)
        await deciding.wait()
        await stream.aclose()  # the visitor leaves before any answer
        with trio.fail_after(5):  # virtual: on the old code the app waited for ever
            while len(events) < 2:
                await trio.sleep(0.01)
    assert events[0]["type"] == "websocket.connect"
    assert events[1] == {"type": "websocket.disconnect", "code": 1006}
