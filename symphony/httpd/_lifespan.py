"""The ASGI lifespan: the app's startup before the first request, its shutdown after
the last. Quart-Trio runs ``before_serving`` and keeps its background nursery in it.

An app that fails the startup (``lifespan.startup.failed``) fails the server's start;
an app that raises instead (it knows no lifespan) is served without one, as ASGI says.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from symphony.errors import SymphonyError

from ._types import ASGIApp, Message

log = logging.getLogger("symphony.httpd")


class LifespanFailure(SymphonyError):
    """The app said its startup failed (its message is this one's); the server does not
    start."""


class Lifespan:
    """Runs the app's lifespan in a task of its own (``nursery.start(lifespan.run)``)."""

    def __init__(self, app: ASGIApp, state: dict[str, Any]) -> None:
        self.app = app
        self.state = state
        self._to_app, self._from_server = trio.open_memory_channel[Message](2)
        self._started = trio.Event()
        self._stopped = trio.Event()
        self._failure: str | None = None
        self.supported = True

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        """Call the app with the lifespan scope; returns when the app does."""
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}}
        scope["state"] = self.state
        task_status.started()
        try:
            await self.app(scope, self._from_server.receive, self._send)
        except Exception:
            self.supported = False
            if not self._started.is_set():
                log.debug("the app has no lifespan: served without one", exc_info=True)
            else:
                log.exception("the app's lifespan failed")
        finally:
            self._started.set()
            self._stopped.set()

    async def _send(self, message: Message) -> None:
        kind = message["type"]
        if kind in ("lifespan.startup.complete", "lifespan.startup.failed"):
            if kind.endswith("failed"):
                self._failure = str(message.get("message", ""))
            self._started.set()
        elif kind in ("lifespan.shutdown.complete", "lifespan.shutdown.failed"):
            if kind.endswith("failed"):
                log.error("the app's shutdown failed: %s", message.get("message", ""))
            self._stopped.set()
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} in the lifespan")

    async def startup(self) -> None:
        """Start the app; raises :class:`LifespanFailure` if it says it failed."""
        await self._to_app.send({"type": "lifespan.startup"})
        await self._started.wait()
        if self._failure is not None:
            raise LifespanFailure(f"the app's startup failed: {self._failure}")

    async def shutdown(self) -> None:
        """Stop the app (its ``after_serving``); returns when it did."""
        if self.supported and not self._stopped.is_set():
            await self._to_app.send({"type": "lifespan.shutdown"})
        await self._stopped.wait()
