"""The node's side of the link: connect to the conductor over mTLS WebSocket.

>>> async with connect_to_conductor("conductor.example", 7443, ctx, timeout=10) as conn:
...     accepted = await client_hello(conn, hello, timeout=5)       # doctest: +SKIP

The link is TLS on our own :class:`~symphony.wire.tls.TLSStream` and a WebSocket of our
own (:mod:`._clientws` for the upgrade, :mod:`.websocket` for the frames), read by the
task that receives: no reader task, and nothing of trio-websocket in the node's agent.

Every failure to connect is a specific :class:`~symphony.wire.errors.TransportError`
raised well within ``timeout``:

- :class:`ConnectFailed`: TCP refused or unreachable, or closed before the TLS handshake
  finished (a busy conductor turns connections away so; retry after a backoff);
- :class:`ServerUntrusted`: the server's certificate is not from our CA / wrong host;
- :class:`TLSRejected`: the conductor refused *our* certificate. With TLS 1.3 the
  client's handshake completes before the server has checked the client
  certificate; the refusal (an alert, or just EOF) arrives on the first read, which
  is the read of the WebSocket upgrade's answer: reported at once;
- :class:`ConnectTimeout`: nothing conclusive within ``timeout``;
- a plain :class:`TransportError`: the server answered the upgrade with something
  other than a WebSocket (an HTTP status, or not HTTP at all).

Exceptions raised in the ``async with`` body come out as themselves, not wrapped in an
exception group: a group around one exception (a nursery's in the body, say the node's
session) is unwrapped, so callers catch :class:`LinkError` and the rest as usual.
"""

from __future__ import annotations

import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import trio

from symphony.actors import raise_unchanged, sole_exception

from ._clientws import PeerLeft, UpgradeRefused, connect_websocket
from .codec import DEFAULT_MAX_FRAME_SIZE
from .connection import ConductorConnection
from .errors import (
    CertificateError,
    ConnectFailed,
    ConnectTimeout,
    ServerUntrusted,
    TLSRejected,
    TransportError,
)
from .identity import peer_node_id
from .server import NODE_WS_PATH, tls_failure_reason
from .tls import TLSStream
from .websocket import WebSocket

__all__ = ["connect_to_conductor", "open_link"]

#: Words the error for a server that hangs up right after the TLS handshake.
Rejected = Callable[[str, BaseException | None], TLSRejected]


async def _tls(host: str, port: int, ctx: ssl.SSLContext, server_hostname: str) -> TLSStream:
    where = f"{host}:{port}"
    try:
        tcp = await trio.open_tcp_stream(host, port)
    except OSError as exc:
        raise ConnectFailed.with_hint(f"cannot reach the conductor at {where}: {exc}") from None
    try:
        stream = TLSStream.over(tcp, ctx, server_hostname=server_hostname)
    except OSError:  # reset already (ssl checks the socket is connected)
        await trio.aclose_forcefully(tcp)
        raise _closed_early(where) from None
    try:
        await stream.do_handshake()
    except trio.BrokenResourceError as exc:
        await trio.aclose_forcefully(stream)
        cause = exc.__cause__
        if isinstance(cause, ssl.SSLCertVerificationError):
            raise _untrusted(where, exc) from None
        if isinstance(cause, ssl.SSLEOFError) or (
            isinstance(cause, OSError) and not isinstance(cause, ssl.SSLError)
        ):
            # Hung up in the middle of the handshake, before judging our certificate
            # (with TLS 1.3 that shows only after it): its admission control, or it died.
            raise _closed_early(where) from None
        raise TLSRejected(
            f"TLS handshake with the conductor at {where} failed: {tls_failure_reason(exc)}"
        ) from None
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    return stream


def _closed_early(where: str) -> ConnectFailed:
    return ConnectFailed(
        f"the conductor at {where} closed the connection before the TLS handshake "
        "finished (it may be busy admitting other nodes)"
    )


def _untrusted(where: str, exc: BaseException) -> ServerUntrusted:
    return ServerUntrusted(
        f"the conductor at {where} is not trusted: {tls_failure_reason(exc)}; check "
        "the CA file and that the address you dial is in the server certificate"
    )


def _rejected(where: str, error: BaseException | None) -> TLSRejected:
    if error is None:
        why = "it closed the connection right after the TLS handshake"
    else:
        why = f"it ended the connection after the TLS handshake ({tls_failure_reason(error)})"
    return TLSRejected(
        f"the conductor at {where} rejected our client certificate: {why}; check that "
        "the node's certificate was issued by the conductor's CA and has not expired"
    )


async def _upgrade(
    stream: TLSStream, host: str, where: str, path: str, max_frame_size: int, rejected: Rejected
) -> WebSocket:
    try:
        return await connect_websocket(
            stream, host=host, path=path, max_message_size=max_frame_size
        )
    except PeerLeft as left:  # the server hung up on us: our certificate, most likely
        raise rejected(where, left.error) from None
    except UpgradeRefused as refused:
        raise TransportError(
            f"the conductor at {where} refused the WebSocket upgrade: {refused}"
        ) from None


def _server_cn(stream: TLSStream) -> str:
    try:
        return peer_node_id(stream)
    except CertificateError:
        return "?"


@asynccontextmanager
async def connect_to_conductor(
    host: str,
    port: int,
    ssl_context: ssl.SSLContext,
    *,
    timeout: float = 10.0,
    server_hostname: str | None = None,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    close_timeout: float = 2.0,
) -> AsyncIterator[ConductorConnection]:
    """Connect (TCP + TLS + WebSocket upgrade, all within ``timeout`` seconds) and yield
    the connection; it is closed normally when the block ends.

    ``ssl_context`` comes from :func:`symphony.pki.client_ssl_context`;
    ``server_hostname`` (default ``host``) is the name checked against the
    server certificate.
    """
    async with open_link(
        host,
        port,
        ssl_context,
        timeout=timeout,
        server_hostname=server_hostname,
        max_frame_size=max_frame_size,
        close_timeout=close_timeout,
    ) as (conn, _):
        yield conn


@asynccontextmanager
async def open_link(
    host: str,
    port: int,
    ssl_context: ssl.SSLContext,
    *,
    timeout: float = 10.0,
    server_hostname: str | None = None,
    path: str = NODE_WS_PATH,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    close_timeout: float = 2.0,
    rejected: Rejected = _rejected,
) -> AsyncIterator[tuple[ConductorConnection, TLSStream]]:
    """What :func:`connect_to_conductor` and the join client share: connect to ``path``
    and yield the connection with its TLS stream (whose peer certificate the join
    client checks). ``rejected(where, error)`` words the error for a server that hangs
    up right after the TLS handshake."""
    where = f"{host}:{port}"
    try:
        with trio.fail_after(timeout):
            tls = await _tls(host, port, ssl_context, server_hostname or host)
            try:
                ws = await _upgrade(tls, host, where, path, max_frame_size, rejected)
            except BaseException:
                await trio.aclose_forcefully(tls)
                raise
    except trio.TooSlowError:
        raise ConnectTimeout(
            f"connecting to the conductor at {where} took more than {timeout}s "
            "(TCP connect, TLS handshake and WebSocket upgrade)"
        ) from None
    conn = ConductorConnection(
        ws,
        remote=where,
        peer_cn=_server_cn(tls),
        max_frame_size=max_frame_size,
        close_timeout=close_timeout,
    )
    try:
        yield conn, tls
    except BaseExceptionGroup as group:
        single = sole_exception(group)
        if single is None:
            raise
        raise_unchanged(single)  # with the cause and context the caller's code gave it
    finally:
        await conn.close()  # closes the TLS stream too, whoever started the closing
