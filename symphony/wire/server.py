"""The conductor's node endpoint: mTLS WebSocket, one handler call per node connection.

Built from public Trio pieces rather than trio-websocket's ``serve_websocket``,
which cannot show the handler the peer certificate, keeps a rejected TLS client
open for its 60 s connect timeout and logs nothing. Here each connection goes:

1. explicit TLS handshake under ``handshake_timeout``, on our own
   :class:`~symphony.wire.tls.TLSStream` over the accepted TCP socket (Trio's TCP
   listeners; see :mod:`.tls` for why not ``trio.SSLStream``); a refused client (no
   certificate, another CA, not TLS at all) is logged as ``rejected TLS client``
   and dropped at once, so it sees EOF within milliseconds;
2. the node id is read from the certificate CN;
3. WebSocket upgrade, also under ``handshake_timeout`` (it would otherwise wait
   forever for a peer that leaves before upgrading); the WebSocket is our own
   :class:`~symphony.wire.websocket.WebSocket`, read by the handler's task itself (no
   reader task per connection);
4. ``await handler(NodeConnection)``. When the handler returns the connection is
   closed normally. If it raises :class:`ProtocolError` the connection is closed
   with code 1002 and the error as reason; :class:`ConnectionClosed` is a normal
   end; any other exception is logged with its traceback and closes with 1011.
   Nothing a node does can stop the server.

Relay connections (protocol 5): when ``serve_nodes`` gets a ``data_handler``, a node's
connection that starts with :data:`~symphony.wire.relay.MAGIC` instead of a WebSocket
upgrade is a relayed stream: ``data_handler(stream, node id, remote)`` owns it, and it
is closed when that returns (see :mod:`symphony.wire.relay`). It gives its admission
turn back at once: a relayed stream may last for hours.

Admission control: with a ``gate`` (:class:`~symphony.wire.admission.HandshakeGate`) a
connection waits for its turn before step 1 and holds it through the handler's hello
(the handler calls ``conn.opened()`` once it answered): a reconnect storm is served a
bounded number at a time, and a connection that waited too long is closed before any
TLS, to retry after its backoff.

Joining: when ``serve_nodes`` gets a ``join_handler`` (and an ``ssl_context`` with
optional client certificates), a client *without* a certificate may open exactly one
thing, the WebSocket at :data:`JOIN_WS_PATH`, where ``join_handler(conn, remote)`` runs
the enrolment exchange (messages in :mod:`symphony.wire.join`, frames of at most
:data:`JOIN_MAX_MESSAGE_SIZE`); the connection is closed when it returns. A cert-less client
asking for anything else is logged as ``rejected TLS client`` and dropped before any
answer, so it sees the same fast EOF as with required certificates.

>>> async def handler(conn: NodeConnection) -> None:       # doctest: +SKIP
...     hello = await receive_hello(conn, timeout=5)
...     ...
>>> port = await nursery.start(partial(serve_nodes, handler, host="0.0.0.0",
...                                    port=7443, ssl_context=ctx))  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import NoReturn

import trio

from .admission import HandshakeGate, Slot
from .codec import DEFAULT_MAX_FRAME_SIZE
from .connection import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_NORMAL,
    CLOSE_PROTOCOL_ERROR,
    NodeConnection,
)
from .errors import CertificateError, ConnectionClosed, ProtocolError
from .identity import peer_node_id
from .relay import MAGIC
from .tls import TLSStream
from .websocket import accept_websocket

__all__ = ["JOIN_WS_PATH", "NODE_WS_PATH", "serve_nodes"]

log = logging.getLogger("symphony.wire")

#: The WebSocket resource nodes connect to; other paths get HTTP 404.
NODE_WS_PATH = "/v1/node"
#: The only resource open to a client without a certificate: the join exchange.
JOIN_WS_PATH = "/v1/join"
#: The join exchange carries a CSR and a certificate (under 2 KiB each): a small cap
#: keeps unauthenticated peers from making us buffer much.
JOIN_MAX_MESSAGE_SIZE = 64 * 1024
Handler = Callable[[NodeConnection], Awaitable[object]]
JoinHandler = Callable[[NodeConnection, str], Awaitable[object]]
#: ``(TLS stream after the magic, node id from the certificate, remote address)``.
DataHandler = Callable[[trio.abc.Stream, str, str], Awaitable[object]]
# What _handshake returns for a client that presented no certificate while joining
# is allowed (node ids are never empty, so it cannot be mistaken for one).
_ANONYMOUS = ""


def _remote(stream: TLSStream) -> str:
    try:
        host, port, *_ = stream.socket.getpeername()
    except (OSError, AttributeError, ValueError):
        return "unknown peer"
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def tls_failure_reason(exc: BaseException) -> str:
    """Readable cause of a failed TLS handshake, e.g. ``"certificate verify failed
    (unable to get local issuer certificate)"`` or ``"peer did not return a certificate"``."""
    cause = exc.__cause__ or exc
    if isinstance(cause, ssl.SSLCertVerificationError):
        return f"certificate verify failed ({cause.verify_message})"
    if isinstance(cause, ssl.SSLError) and cause.reason:
        return cause.reason.lower().replace("_", " ")
    return str(cause) or type(cause).__name__


async def _handshake(
    stream: TLSStream, remote: str, timeout: float, *, allow_anonymous: bool = False
) -> str | None:
    """TLS handshake + CN; returns the node id, ``_ANONYMOUS`` for a client without a
    certificate when ``allow_anonymous``, or None after logging why not."""
    try:
        with trio.fail_after(timeout):
            await stream.do_handshake()
    except trio.TooSlowError:
        log.warning("rejected TLS client %s: handshake not done within %ss", remote, timeout)
        return None
    except trio.BrokenResourceError as exc:
        log.warning("rejected TLS client %s: %s", remote, tls_failure_reason(exc))
        return None
    if allow_anonymous and not stream.getpeercert(binary_form=True):
        return _ANONYMOUS
    try:
        return peer_node_id(stream)
    except CertificateError as exc:
        log.warning("rejected TLS client %s: %s", remote, exc)
        return None


async def _peek_magic(stream: trio.abc.Stream, timeout: float) -> bytes | None:
    """The first bytes of a connection, up to where they can be told from
    :data:`MAGIC`; None when the peer sent nothing in time or left."""
    data = b""
    with trio.move_on_after(timeout):
        try:
            while len(data) < len(MAGIC) and MAGIC.startswith(data):
                got = await stream.receive_some(len(MAGIC) - len(data))
                if not got:
                    return None
                data += got
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return None
        return data
    return None


async def _serve_anonymous(
    stream: TLSStream,
    remote: str,
    join_handler: JoinHandler,
    *,
    timeout: float,
    close_timeout: float,
) -> None:
    """A client without a certificate: the join exchange, or nothing at all."""
    ws, path = await accept_websocket(
        stream,
        path=JOIN_WS_PATH,
        timeout=timeout,
        max_message_size=JOIN_MAX_MESSAGE_SIZE,
        answer_refusals=False,
    )
    if ws is None:
        # No HTTP answer on purpose: the client sees EOF right after the handshake,
        # exactly as with a server that requires certificates.
        asked = f"asked for {path}" if path is not None else "sent no WebSocket request"
        log.warning(
            "rejected TLS client %s: it presented no client certificate and %s "
            "(without a certificate only the join endpoint %s is open)",
            remote,
            asked,
            JOIN_WS_PATH,
        )
        return
    conn = NodeConnection(
        ws,
        remote=remote,
        peer_cn="(joining)",
        max_frame_size=JOIN_MAX_MESSAGE_SIZE,
        close_timeout=close_timeout,
    )
    try:
        await join_handler(conn, remote)
    except ConnectionClosed:
        log.info("joining client %s left before the exchange ended", remote)
    except Exception:
        log.exception("join exchange with %s failed", remote)
    finally:
        await conn.close()


def _who(conn: NodeConnection) -> str:
    return f"node {conn.cert_node_id!r} ({conn.remote})"


async def _run_handler(handler: Handler, conn: NodeConnection) -> None:
    # Preset for the one way out that is not caught below: cancellation, which
    # means the conductor is shutting down and the node should reconnect.
    code: int = CLOSE_GOING_AWAY
    reason: str | None = "conductor shutting down"
    try:
        await handler(conn)
        code, reason = CLOSE_NORMAL, None
    except ProtocolError as exc:
        log.warning("%s: protocol error, closing: %s", _who(conn), exc)
        code, reason = CLOSE_PROTOCOL_ERROR, str(exc)
    except ConnectionClosed as exc:
        log.info("%s: %s", _who(conn), exc)
        code, reason = CLOSE_NORMAL, None
    except Exception:
        log.exception("%s: connection handler failed", _who(conn))
        code, reason = CLOSE_INTERNAL_ERROR, "internal error"
    finally:
        await conn.close(code, reason)


async def _serve_one(
    tcp: trio.SocketStream,
    handler: Handler,
    *,
    ssl_context: ssl.SSLContext,
    handshake_timeout: float,
    max_frame_size: int,
    close_timeout: float,
    join_handler: JoinHandler | None = None,
    gate: HandshakeGate | None = None,
    data_handler: DataHandler | None = None,
) -> None:
    slot = Slot(None) if gate is None else await gate.admit()
    stream: TLSStream | None = None
    remote = "unknown peer"
    try:
        if gate is not None and not slot.admitted:  # waited too long: retry later, no TLS
            await trio.aclose_forcefully(tcp)
            return
        try:
            stream = TLSStream.over(tcp, ssl_context)
        except OSError as error:  # the peer left before anything was said
            log.warning("rejected TLS client: it left at once (%s)", error)
            await trio.aclose_forcefully(tcp)
            return
        remote = _remote(stream)
        conn = await _open(
            stream,
            remote,
            slot,
            handshake_timeout=handshake_timeout,
            max_frame_size=max_frame_size,
            close_timeout=close_timeout,
            join_handler=join_handler,
            data_handler=data_handler,
        )
        if conn is not None:
            # The opening's frame is gone by now: a link lives for hours, thousands at
            # once, and each frame it waits in is memory it keeps.
            conn.admission = slot
            await _run_handler(handler, conn)
    except Exception:
        # Last line of defence: whatever one connection does must not take down
        # serve_listeners (and with it the conductor). Cancelled is not an Exception.
        log.exception("connection from %s failed", remote)
    finally:
        slot.release()
        if stream is not None:
            await trio.aclose_forcefully(stream)


async def _open(
    stream: TLSStream,
    remote: str,
    slot: Slot,
    *,
    handshake_timeout: float,
    max_frame_size: int,
    close_timeout: float,
    join_handler: JoinHandler | None,
    data_handler: DataHandler | None = None,
) -> NodeConnection | None:
    """TLS, the node id, then a node link's WebSocket (returned for the handler), or a
    join exchange or a relayed stream (served here; None returned), or None after
    logging why the connection is dropped."""
    node_id = await _handshake(
        stream, remote, handshake_timeout, allow_anonymous=join_handler is not None
    )
    if node_id is None:
        return None
    if node_id == _ANONYMOUS and join_handler is not None:
        await _serve_anonymous(
            stream,
            remote,
            join_handler,
            timeout=handshake_timeout,
            close_timeout=close_timeout,
        )
        return None
    first: bytes | None = b""
    if data_handler is not None:
        first = await _peek_magic(stream, handshake_timeout)
        if first is None:
            log.warning("node %r (%s): sent nothing after TLS, dropping", node_id, remote)
            return None
        if first == MAGIC:
            slot.release()  # a relayed stream holds no admission turn
            await data_handler(stream, node_id, remote)
            return None
    ws, _ = await accept_websocket(
        stream,
        path=NODE_WS_PATH,
        timeout=handshake_timeout,
        max_message_size=max_frame_size,
        initial=first or b"",
    )
    if ws is None:
        log.warning("node %r (%s): no WebSocket upgrade, dropping", node_id, remote)
        return None
    return NodeConnection(
        ws,
        remote=remote,
        peer_cn=node_id,
        max_frame_size=max_frame_size,
        close_timeout=close_timeout,
    )


async def serve_nodes(
    handler: Handler,
    *,
    host: str | None,
    port: int,
    ssl_context: ssl.SSLContext,
    handshake_timeout: float = 5.0,
    max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
    close_timeout: float = 2.0,
    join_handler: JoinHandler | None = None,
    gate: HandshakeGate | None = None,
    data_handler: DataHandler | None = None,
    task_status: trio.TaskStatus[int] = trio.TASK_STATUS_IGNORED,
) -> NoReturn:
    """Serve node connections forever; ``task_status`` reports the bound TCP port.

    ``host=None`` listens on every interface; ``port=0`` picks a free port (tests).
    ``ssl_context`` should come from :func:`symphony.pki.server_ssl_context`
    (TLS 1.3, client certificates required). To let new nodes join, pass
    ``server_ssl_context(pki, client_cert="optional")`` and a ``join_handler``
    (see the module docstring); without a ``join_handler`` a client with no
    certificate is refused whatever the context allows. ``gate`` bounds the links
    opening at once (see the module docstring).
    """
    # Plain TCP listeners: each accepted connection gets our TLS stream (see .tls).
    listeners = await trio.open_tcp_listeners(port, host=host)
    bound: int = listeners[0].socket.getsockname()[1]
    log.info("serving nodes on %s port %d", host or "all interfaces", bound)

    # A partial, not a closure: one coroutine frame less held by every open link.
    serve_one = functools.partial(
        _serve_one,
        handler=handler,
        ssl_context=ssl_context,
        handshake_timeout=handshake_timeout,
        max_frame_size=max_frame_size,
        close_timeout=close_timeout,
        join_handler=join_handler,
        gate=gate,
        data_handler=data_handler,
    )

    task_status.started(bound)
    await trio.serve_listeners(serve_one, listeners)
    raise AssertionError("serve_listeners never returns")  # pragma: no cover
