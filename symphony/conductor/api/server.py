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
from .origins import ApiOrigin, RelayOrigin

log = logging.getLogger("symphony.conductor.api")


@dataclass(frozen=True, kw_only=True, slots=True)
class HttpSettings:
    """Where the API listens; port 0 picks a free port (ask the server ``"url"``).

    With ``state_dir`` set, the bound URL is recorded in ``state_dir/conductor.json``
    (and removed on a clean stop) so local clients find the Conductor.

    ``relay_port`` (0: a free one) is where services under ``/x/`` are served to
    browsers, on an origin of their own (:mod:`.origins`); None: no relay port, and
    ``/x/`` serves programs with the API token only.
    """

    host: str = "127.0.0.1"
    port: int = 8000
    relay_port: int | None = None
    #: ``conductor.relay.url``: the services' origin behind a reverse proxy, refused
    #: on the API port as the relay port is.
    relay_url: str | None = None
    graceful_timeout: float = 1.0
    state_dir: Path | None = None


@dataclass(frozen=True, slots=True)
class GetUrl:
    """Ask: the URL clients reach the API at (once bound)."""


@dataclass(frozen=True, slots=True)
class GetRelayUrl:
    """Ask: the URL of the relay port (once bound; None without one)."""


class HttpServer(Actor):
    """Serves ``app``; stopping the actor shuts the server down gracefully.

    With ``settings.relay_port`` it serves ``app``'s ``/x/`` there too (or
    ``relay_app``'s: a standby's refusal), and nothing else (:mod:`.origins`).
    """

    def __init__(
        self, app: ASGIApp, settings: HttpSettings, *, relay_app: ASGIApp | None = None
    ) -> None:
        super().__init__()
        self.app = app
        self.relay_app = relay_app if relay_app is not None else app
        self.settings = settings
        self.url: str | None = None
        self.relay_url: str | None = None
        self._shutdown = trio.Event()
        self._served = trio.Event()
        self._relay_served = trio.Event()

    async def on_start(self) -> None:
        api = ApiOrigin(self.app, self._relay_port, self.settings.relay_url)
        binds = await self.nursery.start(self._serve, api, self.settings.port, self._served)
        self.url = client_url(binds[0])
        if self.settings.relay_port is None:
            self._relay_served.set()
        else:
            # After the API's: the app's lifespan (started with the API's server) has
            # run before the first request of either port.
            relay = RelayOrigin(self.relay_app)
            port = self.settings.relay_port
            relay_binds = await self.nursery.start(self._serve, relay, port, self._relay_served)
            self.relay_url = client_url(relay_binds[0])
            log.info("services (/x/) on %s", self.relay_url)
        if self.settings.state_dir is not None:
            write_address_file(self.settings.state_dir, self.url)
        log.info("HTTP API on %s", self.url)

    def _relay_port(self) -> int | None:
        return None if self.relay_url is None else server_port(self.relay_url)

    async def _serve(
        self,
        app: ASGIApp,
        port: int,
        served: trio.Event,
        *,
        task_status: trio.TaskStatus[list[str]],
    ) -> None:
        try:
            await serve(
                app,
                host=self.settings.host,
                port=port,
                shutdown_trigger=self._shutdown.wait,
                # Idle keep-alive connections close at once; streams watch the flag.
                settings=ServerSettings(graceful_timeout=self.settings.graceful_timeout),
                task_status=task_status,
            )
        finally:
            # Also on cancellation (a Conductor stopped by its embedder): no await here.
            served.set()
            if served is self._served and self.settings.state_dir is not None and self.url:
                remove_address_file(self.settings.state_dir, self.url)

    async def receive(self, message: Any) -> Any:
        if isinstance(message, GetUrl):
            return self.url
        if isinstance(message, GetRelayUrl):
            return self.relay_url
        raise TypeError(f"HttpServer does not handle {message!r}")

    async def on_stop(self) -> None:
        # Let requests in flight finish (bounded by graceful_timeout) before the actor's
        # nursery is cancelled. Endless streams (log follow) end on the flag.
        closing = getattr(self.app, "config", {}).get("SYMPHONY_CLOSING")
        if closing is not None:
            closing.set()
        self._shutdown.set()
        await self._served.wait()
        await self._relay_served.wait()


def server_port(url: str) -> int:
    """The port of a server URL such as ``http://[::1]:8000``."""
    return int(url.rstrip("/").rsplit(":", 1)[1])
