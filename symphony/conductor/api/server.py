"""HttpServer: an actor that serves the API (``symphony.httpd``) until it is stopped."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio

from symphony.actors import Actor
from symphony.httpd import ASGIApp, ServerSettings, serve

from .auth import client_url, remove_address_file, write_address_file

log = logging.getLogger("symphony.conductor.api")


@dataclass(frozen=True, kw_only=True, slots=True)
class HttpSettings:
    """Where the API listens; port 0 picks a free port (ask the server ``"url"``).

    With ``state_dir`` set, the bound URL is recorded in ``state_dir/conductor.json``
    (and removed on a clean stop) so local clients find the Conductor.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    graceful_timeout: float = 1.0
    state_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class GetUrl:
    """Ask: the URL clients reach the API at (once bound)."""


class HttpServer(Actor):
    """Serves ``app``; stopping the actor shuts the server down gracefully."""

    def __init__(self, app: ASGIApp, settings: HttpSettings) -> None:
        super().__init__()
        self.app = app
        self.settings = settings
        self.url: str | None = None
        self._shutdown = trio.Event()
        self._served = trio.Event()

    async def on_start(self) -> None:
        binds = await self.nursery.start(self._serve)
        self.url = client_url(binds[0])
        if self.settings.state_dir is not None:
            write_address_file(self.settings.state_dir, self.url)
        log.info("HTTP API on %s", self.url)

    async def _serve(self, *, task_status: trio.TaskStatus[list[str]]) -> None:
        try:
            await serve(
                self.app,
                host=self.settings.host,
                port=self.settings.port,
                shutdown_trigger=self._shutdown.wait,
                # Idle keep-alive connections close at once; streams watch the flag.
                settings=ServerSettings(graceful_timeout=self.settings.graceful_timeout),
                task_status=task_status,
            )
        finally:
            # Also on cancellation (a Conductor stopped by its embedder): no await here.
            self._served.set()
            if self.settings.state_dir is not None and self.url is not None:
                remove_address_file(self.settings.state_dir, self.url)

    async def receive(self, message: Any) -> Any:
        if isinstance(message, GetUrl):
            return self.url
        raise TypeError(f"HttpServer does not handle {message!r}")

    async def on_stop(self) -> None:
        # Let requests in flight finish (bounded by graceful_timeout) before the actor's
        # nursery is cancelled. Endless streams (log follow) end on the flag.
        closing = getattr(self.app, "config", {}).get("SYMPHONY_CLOSING")
        if closing is not None:
            closing.set()
        self._shutdown.set()
        await self._served.wait()
