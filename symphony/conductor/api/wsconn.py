"""The app's WebSocket connection: it reads a client's messages only as the route takes them.

Quart-Trio's own reads up to ten messages ahead of the route (a memory channel of ten),
each up to the server's message limit (16 MiB): a proxied WebSocket whose far side
reads nothing then held some 160 MiB of one client's messages in the Conductor. Here the
channel is a rendezvous: the reader task holds at most the one message it is handing
over, and the server reads the next only once the route took it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import trio
from quart_trio.asgi import TrioASGIWebsocketConnection

if TYPE_CHECKING:  # Quart's own types (its server's package; types only)
    from hypercorn.typing import WebsocketScope
    from quart_trio import QuartTrio


class OneAheadWebsocketConnection(TrioASGIWebsocketConnection):
    """Quart-Trio's WebSocket connection, one message ahead of the route at most."""

    def __init__(self, app: QuartTrio, scope: WebsocketScope) -> None:
        super().__init__(app, scope)
        self.send_channel, self.receive_channel = trio.open_memory_channel[bytes | str](0)
