"""An ASGI 3 server on Trio for the Conductor's API: HTTP/1.1 and WebSocket.

h11 parses and frames HTTP/1.1, wsproto the WebSocket frames; this package is only the
thin part between them and the app: one task per connection (the app runs in it, no
task per request), bounded heads and reads, timeouts for slow clients, the lifespan,
and a graceful stop. It serves what the Conductor's apps need and nothing more (no
HTTP/2, no TLS: the API listens on loopback or behind a proxy).

Modules: ``_http`` (the connection and its request cycle), ``_websocket``,
``_deflate`` (permessage-deflate bounded by the message limit), ``_lifespan``,
``_serve`` (listeners and the stop), ``_shutdown``, ``_scope``, ``_transport`` (the
socket), ``_refusal`` (the server's own answers, in JSON), ``_settings``, ``_types``
(the ASGI aliases).
"""

from ._lifespan import LifespanFailure
from ._serve import serve
from ._settings import ServerSettings
from ._types import ASGIApp, ASGIReceiveCallable, ASGISendCallable, Message, Scope

__all__ = [
    "ASGIApp",
    "ASGIReceiveCallable",
    "ASGISendCallable",
    "LifespanFailure",
    "Message",
    "Scope",
    "ServerSettings",
    "serve",
]
