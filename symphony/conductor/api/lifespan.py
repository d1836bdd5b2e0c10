"""An ASGI lifespan with nothing to start or stop.

An app that shares its state with another app (the relay port's app shares the API
app's; a standby's forwarder starts nothing of its own) still gets the server's
lifespan messages; it answers them at once, so the server neither waits nor reports a
failed start.
"""

from __future__ import annotations

from symphony.httpd import ASGIReceiveCallable, ASGISendCallable


async def answer_lifespan(receive: ASGIReceiveCallable, send: ASGISendCallable) -> None:
    """Say "started" and "stopped" as soon as the server asks, until it stops."""
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
