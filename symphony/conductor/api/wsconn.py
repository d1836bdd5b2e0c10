"""The app's WebSocket connection: it reads a client's messages only as the route takes them.

Quart-Trio's own reads up to ten messages ahead of the route (a memory channel of ten),
each up to the server's message limit (16 MiB): a proxied WebSocket whose far side
reads nothing then held some 160 MiB of one client's messages in the Conductor. Here the
channel is a rendezvous: the reader task holds at most the one message it is handing
over, and the server reads the next only once the route took it.

A route that sets :data:`READ_ON_ASK` in its scope has none read ahead: the reader reads
the client's next message only once the route asks for one (``websocket.receive()``), so
while the route still passes the last one on (to a service that reads slowly) the next
stays in the client's socket and TCP holds the client back. The first message is read
at once, as are the events before it (the client leaving while the route decides).
While the reader waits for an ask, it asks our server every :data:`LEFT_POLL` seconds
whether the client left (``symphony.client_left``): a client gone while the route still
hands its last message to a service that does not take it ends the route, instead of
keeping its place (one of the Conductor's few relayed WebSockets) until that service reads.
``/x/`` does so: one message less held per WebSocket (4.05 -> 3.06 of them). A
port-forward does not: reading the next message while the last goes out keeps its
stream flowing (without it, 100 MiB through a forward took about 15% longer).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio
from quart.signals import websocket_received
from quart_trio.asgi import TrioASGIWebsocketConnection

if TYPE_CHECKING:  # Quart's own types (its server's package; types only)
    from hypercorn.typing import ASGIReceiveCallable, WebsocketScope
    from quart_trio import QuartTrio


#: The scope key a route sets (to True) to have no message read ahead of its asking.
READ_ON_ASK = "symphony.read_on_ask"
#: How often a reader waiting for the route's ask checks that the client is still there.
LEFT_POLL = 1.0


class _Asked:
    """What the route reads from: each ``receive()`` first asks the reader for one."""

    def __init__(self, owner: OneAheadWebsocketConnection) -> None:
        self._owner = owner

    async def receive(self) -> bytes | str:
        owner = self._owner
        owner.asks += 1
        owner.more.set()
        try:
            return await owner.handed.receive()
        except BaseException:  # cancelled before it took one: that ask is withdrawn
            owner.asks -= 1
            raise


class OneAheadWebsocketConnection(TrioASGIWebsocketConnection):
    """Quart-Trio's WebSocket connection, at most one message ahead of the route (none
    with :data:`READ_ON_ASK`)."""

    def __init__(self, app: QuartTrio, scope: WebsocketScope) -> None:
        super().__init__(app, scope)
        self.send_channel, self.handed = trio.open_memory_channel[bytes | str](0)
        #: Messages the route asked for (withdrawn if cancelled), and read for it.
        self.asks = 0
        self.read = 0
        self.more = trio.Event()  # set by each ask
        self.receive_channel = _Asked(self)  # type: ignore[assignment]  # only .receive is used

    async def handle_messages(  # type: ignore[override]  # Quart-Trio's own is untyped so
        self, nursery: trio.Nursery, receive: ASGIReceiveCallable
    ) -> None:
        while True:
            # With READ_ON_ASK, message k (from 1) is read once the route asked for it
            # (the first at once); else as soon as the last was handed over.
            while self.read >= 1 and self.asks <= self.read and self.scope.get(READ_ON_ASK):
                if not await self._asked():
                    nursery.cancel_scope.cancel()  # the client left: so does the route
                    return
            event = await receive()
            if event["type"] == "websocket.receive":
                self.read += 1
                data, text = event.get("bytes"), event.get("text")
                message = data if data is not None else text or ""
                await websocket_received.send_async(
                    message,
                    _sync_wrapper=self.app.ensure_async,  # type: ignore[arg-type]
                )
                await self.send_channel.send(message)
            elif event["type"] == "websocket.disconnect":
                break
        nursery.cancel_scope.cancel()

    async def _asked(self) -> bool:
        """Wait for the route's next ask; False if the client left first."""
        more = self.more = trio.Event()
        extensions: dict[str, Any] = self.scope.get("extensions") or {}
        client_left: Callable[[], bool] = extensions.get("symphony.client_left") or bool
        poll = LEFT_POLL if "symphony.client_left" in extensions else math.inf
        while True:
            with trio.move_on_after(poll):
                await more.wait()
                return True
            if client_left():
                return False
