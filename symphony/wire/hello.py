"""The opening exchange: the node's Hello, the conductor's answer.

The first message each way carries the protocol version. A node calls
:func:`client_hello`; the conductor calls :func:`receive_hello`, decides whether
it wants this node (identity policy is the gateway's), then :func:`answer_hello`
negotiates the version and replies. Each step has an explicit timeout.
"""

from __future__ import annotations

import trio

from .connection import WireConnection
from .errors import ConnectTimeout, HelloRefused, ProtocolError, VersionMismatch
from .messages import Hello, HelloAccepted, HelloRejected
from .version import negotiate_version

__all__ = ["answer_hello", "client_hello", "receive_hello"]


async def client_hello(conn: WireConnection, hello: Hello, *, timeout: float) -> HelloAccepted:
    """Send ``hello`` and wait for the answer.

    Returns the :class:`HelloAccepted`; raises :class:`HelloRefused` with the
    conductor's reason, :class:`ConnectTimeout` if no answer comes in time, and
    :class:`ProtocolError` for any other first message.
    """
    try:
        with trio.fail_after(timeout):
            await conn.send(hello)
            reply = await conn.receive()
    except trio.TooSlowError:
        raise ConnectTimeout(f"no answer to our hello within {timeout}s") from None
    if isinstance(reply, HelloAccepted):
        return reply
    if isinstance(reply, HelloRejected):
        raise HelloRefused(reply.reason)
    raise ProtocolError(f"expected HelloAccepted or HelloRejected first, got {_name(reply)}")


async def receive_hello(conn: WireConnection, *, timeout: float) -> Hello:
    """The node's first message, which must be a :class:`Hello` within ``timeout`` seconds
    (:class:`ProtocolError` otherwise, which closes the connection with code 1002)."""
    try:
        with trio.fail_after(timeout):
            first = await conn.receive()
    except trio.TooSlowError:
        raise ProtocolError(f"no hello within {timeout}s of connecting") from None
    if not isinstance(first, Hello):
        raise ProtocolError(f"expected Hello as the first message, got {_name(first)}")
    return first


async def answer_hello(
    conn: WireConnection, hello: Hello, *, heartbeat_sec: float, node_timeout_sec: float
) -> int:
    """Negotiate the version and send :class:`HelloAccepted`; return the chosen version.

    If no version fits, send :class:`HelloRejected` with the reason and raise
    :class:`VersionMismatch` (a :class:`ProtocolError`: the connection then closes).
    """
    try:
        version = negotiate_version(hello.protocol_version, hello.min_protocol_version)
    except VersionMismatch as exc:
        await conn.send(HelloRejected(reason=str(exc)))
        raise
    await conn.send(
        HelloAccepted(
            protocol_version=version,
            heartbeat_sec=heartbeat_sec,
            node_timeout_sec=node_timeout_sec,
        )
    )
    return version


def _name(msg: object) -> str:
    return "a batch" if isinstance(msg, list) else type(msg).__name__
