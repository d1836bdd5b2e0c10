"""A hostile node for tests: a valid certificate, then frames of its own making.

``hostile_link(info)`` connects with the shared seed certificate (which may claim any
node id) or ``cert=(pem, key)`` of a per-node one, says hello (unless ``hello=None``),
and yields the connection; :func:`send_raw` sends bytes as one frame, bypassing the
encoder. ``drain(conn)`` reads and drops what the Conductor sends until the link ends.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import msgpack
import trio

from symphony.conductor import ConductorInfo
from symphony.pki import client_ssl_context
from symphony.wire import (
    PROTOCOL_VERSION,
    ConductorConnection,
    ConnectionClosed,
    Hello,
    HelloAccepted,
    ProtocolError,
    connect_to_conductor,
)


@asynccontextmanager
async def hostile_link(
    info: ConductorInfo,
    node_id: str = "mallory",
    *,
    cert: tuple[Path, Path] | None = None,
    hello: Hello | bool | None = True,
) -> AsyncIterator[ConductorConnection]:
    certs = info.cert_dir
    pem, key = cert or (certs / "node-client.pem", certs / "node-client.key")
    context = client_ssl_context(certs / "ca.pem", pem, key)
    async with connect_to_conductor("localhost", info.node_port, context) as conn:
        if hello is True:
            hello = Hello(protocol_version=PROTOCOL_VERSION, node_id=node_id)
        if isinstance(hello, Hello):
            await conn.send(hello)
            answer = await conn.receive()
            assert isinstance(answer, HelloAccepted), answer
        yield conn


def frame(obj: Any) -> bytes:
    return msgpack.packb(obj, use_bin_type=True)


async def send_raw(conn: ConductorConnection, payload: bytes) -> None:
    await conn._ws.send_message(payload)  # raw bytes, bypassing our encoder


async def drain(conn: ConductorConnection, into: list[Any] | None = None) -> int | None:
    """Read until the link ends; returns its close code (kept messages in ``into``)."""
    while True:
        try:
            message = await conn.receive()
        except ConnectionClosed as closed:
            return closed.code
        except ProtocolError:
            continue
        if into is not None:
            into.append(message)


def live_objects(kind: type) -> int:
    """How many objects of exactly ``kind`` this process holds now."""
    gc.collect()
    return sum(1 for obj in gc.get_objects() if type(obj) is kind)


async def stays(predicate: Any, seconds: float, interval: float = 0.1) -> bool:
    """Whether an async ``predicate`` stays true for ``seconds`` (real time)."""
    with trio.move_on_after(seconds):
        while await predicate():
            await trio.sleep(interval)
        return False
    return True
