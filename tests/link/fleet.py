"""A node endpoint in the test's own Trio loop: registry, sessions, real mTLS links.

Everything runs in the test's loop, so the virtual clock (``autojump_clock``) drives the
registry's deadlines, the heartbeat batches and the admission gate, while the links are
real sockets on 127.0.0.1 with real TLS.
"""

from __future__ import annotations

import functools
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from symphony.actors import ActorRef, spawn
from symphony.conductor.nodes.beats import HeartbeatInbox
from symphony.conductor.nodes.model import ListNodes, NodeView
from symphony.conductor.nodes.registry import NodeRegistry
from symphony.conductor.nodes.session import run_session
from symphony.pki import ConductorPKI, server_ssl_context
from symphony.wire import (
    ConductorConnection,
    Hello,
    HelloAccepted,
    client_hello,
    connect_to_conductor,
)
from symphony.wire.admission import HandshakeGate
from symphony.wire.server import serve_nodes
from tests.test_wire_support import make_pki, node_files


@dataclass
class Endpoint:
    """What a test talks to: the registry, the port, and contexts for nodes."""

    registry: ActorRef
    port: int
    pki: ConductorPKI
    certs: Path

    contexts: dict[str, ssl.SSLContext] = field(default_factory=dict)

    def context(self, node_id: str) -> ssl.SSLContext:
        """A client context with ``node_id``'s own certificate (made once)."""
        if node_id not in self.contexts:
            files = node_files(self.pki, self.certs / node_id, node_id)
            self.contexts[node_id] = files.context()
        return self.contexts[node_id]

    async def views(self) -> dict[str, NodeView]:
        return {v.node_id: v for v in await self.registry.ask(ListNodes())}

    @asynccontextmanager
    async def node(
        self, node_id: str, version: int = 5, heartbeat: float = 1.0
    ) -> AsyncIterator[tuple[ConductorConnection, HelloAccepted]]:
        """A node link after its hello was accepted (speaking ``1..version``)."""
        hello = Hello(
            protocol_version=version,
            min_protocol_version=1,
            node_id=node_id,
            heartbeat_sec=heartbeat,
        )
        async with connect_to_conductor(
            "127.0.0.1", self.port, self.context(node_id), timeout=30
        ) as conn:
            accepted = await client_hello(conn, hello, timeout=30)
            yield conn, accepted


@asynccontextmanager
async def endpoint(
    tmp_path: Path, *, gate: HandshakeGate | None = None, **registry: Any
) -> AsyncIterator[Endpoint]:
    """Registry + node endpoint (sessions put heartbeats in a shared inbox, as in the
    Conductor); cancelled on exit."""
    pki = make_pki(tmp_path)
    beats = HeartbeatInbox()
    async with trio.open_nursery() as nursery:
        ref = await spawn(nursery, NodeRegistry(beats=beats, **registry))
        handler = functools.partial(
            run_session,
            registry=ref,
            default_heartbeat_sec=1.0,
            timeout_for=lambda heartbeat: 5 * heartbeat,
            beats=beats,
        )
        port = await nursery.start(
            functools.partial(
                serve_nodes,
                handler,
                host="127.0.0.1",
                port=0,
                ssl_context=server_ssl_context(pki),
                handshake_timeout=3.0,
                gate=gate,
            )
        )
        yield Endpoint(ref, port, pki, tmp_path / "nodes")
        nursery.cancel_scope.cancel()
