"""The Gateway actor: serves the mTLS node endpoint and runs one session per link."""

from __future__ import annotations

import functools
import logging
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from symphony.actors import Actor, ActorRef
from symphony.wire import serve_nodes
from symphony.wire.admission import HandshakeGate
from symphony.wire.server import JoinHandler

from ..uploads import UploadStore
from .beats import HeartbeatInbox
from .hellocheck import HelloCheck
from .session import run_session

if TYPE_CHECKING:  # the relay imports nodes.model: at run time, no cycle
    from ..relay import RelayHub

log = logging.getLogger("symphony.conductor.nodes")


@dataclass(frozen=True, kw_only=True, slots=True)
class GatewaySettings:
    """Where and how the node endpoint listens.

    ``port=0`` picks a free port (tests); ask the gateway ``"port"`` for the bound one.
    With a ``join_handler`` (and an ``ssl_context`` with optional client certificates)
    nodes without a certificate may enrol: see :mod:`symphony.conductor.join`.
    """

    host: str | None
    port: int
    ssl_context: ssl.SSLContext
    default_heartbeat_sec: float = 3.0
    hello_timeout: float = 5.0
    handshake_timeout: float = 5.0
    join_handler: JoinHandler | None = None
    #: ``(cert node id, hello) -> refusal or None``: what a joined node's token binds.
    hello_check: HelloCheck | None = None
    #: Archives uploaded to the Conductor, which nodes read over their link.
    uploads: UploadStore | None = None
    #: The registry's heartbeat inbox (sessions put heartbeats there, see ``beats.py``).
    beats: HeartbeatInbox | None = None
    #: Admission control (see :mod:`symphony.wire.admission`): links opening at once,
    #: and how long one may wait for its turn before it is told to retry later.
    handshake_concurrency: int = 32
    handshake_max_wait: float = 5.0
    #: Relayed streams (visits, forwards, tunnels); None: nodes' relay connections are
    #: refused like any connection that does not upgrade.
    relay: RelayHub | None = None


@dataclass(frozen=True, slots=True)
class GetPort:
    """Ask: the port the Gateway listens on (once bound; useful with port 0)."""


class Gateway(Actor):
    """Accepts node connections; each becomes a :class:`NodeSession` until it closes.

    Ask it ``"port"`` for the bound TCP port.
    """

    def __init__(
        self,
        settings: GatewaySettings,
        registry: ActorRef,
        timeout_for: Callable[[float], float],
    ) -> None:
        super().__init__()
        self.settings = settings
        self.registry = registry
        self.timeout_for = timeout_for
        self.port: int | None = None
        self.gate = HandshakeGate(
            concurrency=settings.handshake_concurrency, max_wait=settings.handshake_max_wait
        )

    async def on_start(self) -> None:
        s = self.settings
        # Each link's task runs run_session directly (a partial, not a method calling
        # it): one coroutine frame less held by every open link.
        handle = functools.partial(
            run_session,
            registry=self.registry,
            default_heartbeat_sec=s.default_heartbeat_sec,
            timeout_for=self.timeout_for,
            hello_timeout=s.hello_timeout,
            hello_check=s.hello_check,
            uploads=s.uploads,
            beats=s.beats,
            relay=s.relay,
        )
        self.port = await self.nursery.start(
            functools.partial(
                serve_nodes,
                handle,
                host=s.host,
                port=s.port,
                ssl_context=s.ssl_context,
                handshake_timeout=s.handshake_timeout,
                join_handler=s.join_handler,
                gate=self.gate,
                data_handler=s.relay.serve if s.relay is not None else None,
            )
        )

    async def receive(self, message: Any) -> Any:
        if isinstance(message, GetPort):
            return self.port
        raise TypeError(f"Gateway does not handle {message!r}")
