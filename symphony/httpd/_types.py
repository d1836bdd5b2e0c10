"""The ASGI 3 interface as this server speaks it: a scope, messages, an app.

Scopes and messages are plain dicts (what ASGI apps receive and send); the aliases name
their roles. An app written against another server's ``TypedDict`` scopes (Quart's,
from Hypercorn) is accepted too: :data:`ASGIApp` takes any callable of three arguments.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

#: A connection's scope: ``type`` ("http", "websocket", "lifespan") and its fields.
Scope = dict[str, Any]
#: One ASGI event, received or sent: ``{"type": "http.request", ...}``.
Message = dict[str, Any]
#: ``await receive()``: the next event for the app.
ASGIReceiveCallable = Callable[[], Awaitable[Message]]
#: ``await send(message)``: an event from the app.
ASGISendCallable = Callable[[Message], Awaitable[None]]
#: An ASGI 3 application: ``await app(scope, receive, send)``.
ASGIApp = Callable[[Any, Any, Any], Awaitable[None]]
