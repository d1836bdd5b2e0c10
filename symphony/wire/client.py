"""The node's side of the link: connect to the conductor over mTLS WebSocket.

>>> async with connect_to_conductor("conductor.example", 7443, ctx, timeout=10) as conn:
...     accepted = await client_hello(conn, hello, timeout=5)       # doctest: +SKIP

Every failure to connect is a specific :class:`~symphony.wire.errors.TransportError`
raised well within ``timeout`` (trio-websocket alone would wait its 60 s default):

- :class:`ConnectFailed`: TCP refused or unreachable, or closed before the TLS handshake
  finished (a busy conductor turns connections away so; retry after a backoff);
- :class:`ServerUntrusted`: the server's certificate is not from our CA / wrong host;
- :class:`TLSRejected`: the conductor refused *our* certificate. With TLS 1.3 the
  client's handshake completes before the server has checked the client
  certificate; the refusal (an alert, or just EOF) arrives on the first read. We
  watch the stream during the WebSocket upgrade and report that at once;
- :class:`ConnectTimeout`: nothing conclusive within ``timeout``.

Exceptions raised in the ``async with`` body come out as themselves, not wrapped
in an exception group.
"""

from __future__ import annotations

import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import trio
import trio_websocket

from symphony.actors import raise_unchanged, sole_exception

from ._clientws import ClientTransport
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

__all__ = ["connect_to_conductor", "open_link"]

#: Words the error for a server that hangs up right after the TLS handshake.
Rejected = Callable[[str, BaseException | None], TLSRejected]


class _WatchedStream(trio.abc.Stream):
    """Passes through to the TLS stream and remembers the first transport failure,
    so the upgrade can stop waiting as soon as the server has hung up on us."""

    def __init__(self, inner: trio.SSLStream[Any]) -> None:
        self.inner = inner
        self.failed = trio.Event()
        self.error: BaseException | None = None

    def _fail(self, exc: BaseException | None) -> None:
        if not self.failed.is_set():
            self.error = exc
            self.failed.set()

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        try:
            data = await self.inner.receive_some(max_bytes)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._fail(exc)
            raise
        if not data:
            self._fail(None)
        return data

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        try:
            await self.inner.send_all(data)
        except (trio.BrokenResourceError, trio.ClosedResourceError) as exc:
            self._fail(exc)
            raise

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.inner.aclose()


async def _tls(
    host: str, port: int, ctx: ssl.SSLContext, server_hostname: str
) -> trio.SSLStream[Any]:
    where = f"{host}:{port}"
    try:
        tcp = await trio.open_tcp_stream(host, port)
    except OSError as exc:
        raise ConnectFailed.with_hint(f"cannot reach the conductor at {where}: {exc}") from None
    stream = trio.SSLStream(tcp, ctx, server_hostname=server_hostname)
    try:
        await stream.do_handshake()
    except trio.BrokenResourceError as exc:
        await trio.aclose_forcefully(stream)
        if isinstance(exc.__cause__, ssl.SSLCertVerificationError):
            raise _untrusted(where, exc) from None
        if isinstance(exc.__cause__, ConnectionResetError | ssl.SSLEOFError):
            # Hung up in the middle of the handshake, before judging our certificate
            # (with TLS 1.3 that shows only after it): its admission control, or it died.
            raise ConnectFailed(
                f"the conductor at {where} closed the connection before the TLS handshake "
                "finished (it may be busy admitting other nodes)"
            ) from None
        raise TLSRejected(
            f"TLS handshake with the conductor at {where} failed: {tls_failure_reason(exc)}"
        ) from None
    except BaseException:
        await trio.aclose_forcefully(stream)
        raise
    return stream


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
    nursery: trio.Nursery,
    stream: _WatchedStream,
    host: str,
    where: str,
    path: str,
    max_frame_size: int,
    rejected: Rejected,
) -> trio_websocket.WebSocketConnection:
    ws: trio_websocket.WebSocketConnection | None = None
    async with trio.open_nursery() as race:

        async def upgrade() -> None:
            nonlocal ws
            # A broken stream is the server hanging up on us: reported below.
            with contextlib.suppress(trio.BrokenResourceError):
                ws = await trio_websocket.wrap_client_stream(
                    nursery,
                    # trio-websocket annotates this as SocketStream | SSLStream but uses
                    # only the trio.abc.Stream interface, which _WatchedStream provides.
                    stream,  # type: ignore[arg-type]
                    host,
                    path,
                    message_queue_size=4,
                    max_message_size=max_frame_size,
                    receive_buffer_size=65536,
                )
            race.cancel_scope.cancel()

        async def watch() -> None:
            await stream.failed.wait()
            race.cancel_scope.cancel()

        race.start_soon(upgrade)
        race.start_soon(watch)
    if ws is None:
        raise rejected(where, stream.error)
    return ws


def _server_cn(stream: trio.SSLStream[Any]) -> str:
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
) -> AsyncIterator[tuple[ConductorConnection, trio.SSLStream[Any]]]:
    """What :func:`connect_to_conductor` and the join client share: connect to ``path``
    and yield the connection with its TLS stream (whose peer certificate the join
    client checks). ``rejected(where, error)`` words the error for a server that hangs
    up right after the TLS handshake."""
    where = f"{host}:{port}"
    try:
        async with trio.open_nursery() as nursery:
            try:
                with trio.fail_after(timeout):
                    tls = await _tls(host, port, ssl_context, server_hostname or host)
                    watched = _WatchedStream(tls)
                    try:
                        ws = await _upgrade(
                            nursery, watched, host, where, path, max_frame_size, rejected
                        )
                    except BaseException:
                        await trio.aclose_forcefully(tls)
                        raise
            except trio.TooSlowError:
                raise ConnectTimeout(
                    f"connecting to the conductor at {where} took more than {timeout}s "
                    "(TCP connect, TLS handshake and WebSocket upgrade)"
                ) from None
            conn = ConductorConnection(
                ClientTransport(ws),
                remote=where,
                peer_cn=_server_cn(tls),
                max_frame_size=max_frame_size,
                close_timeout=close_timeout,
            )
            try:
                yield conn, tls
            finally:
                await conn.close()
                # After a close the peer started, trio-websocket leaves the TLS
                # stream open: close it ourselves (it is a no-op otherwise).
                await trio.aclose_forcefully(tls)
                nursery.cancel_scope.cancel()
    except BaseExceptionGroup as group:
        # The nursery wraps whatever escapes it (the body's exception, or the
        # WebSocket reader's) in a group; hand callers the plain exception.
        single = sole_exception(group)
        if single is None:
            raise
        if isinstance(single, trio_websocket.HandshakeError):
            raise TransportError(
                f"the conductor at {where} refused the WebSocket upgrade: {single!r}"
            ) from None
        raise_unchanged(single)  # with the cause and context the caller's code gave it
