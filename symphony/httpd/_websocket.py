"""A WebSocket over an HTTP/1.1 connection: the upgrade through h11, frames by wsproto.

The app runs in the connection's task, as for HTTP. Its ``receive()`` gives
``websocket.connect`` first; a second ``receive()`` before the app accepted waits for
its decision (Quart-Trio's reader task asks at once). A refusal before the accept is an
HTTP answer: ``websocket.close`` gives a 403, and the ``websocket.http.response``
extension lets the app send its own status, headers and body (Quart's 401 with JSON).
Pings are answered by the reader; a message over ``websocket_max_message`` closes the
socket with 1009 (a compressed one is inflated no further than that, and frames are
taken from wsproto one at a time); the client leaving gives ``websocket.disconnect`` with 1006,
also while the app has not decided yet (its socket is watched for the end meanwhile). An
app that reads a message only when it wants one can ask meanwhile whether the client left
(the ``symphony.client_left`` extension).
A client's pace of reading is its own: the server gives up no send by default. An app
that does not want a client to hold its socket while taking nothing sets a bound before
it accepts (the ``symphony.send_timeout`` extension, a second to a day): a send whose
next 64 KiB are not taken within it (each 64 KiB taken starts the bound anew), or bytes
sent that stay unacknowledged that long (the kernel's ``TCP_USER_TIMEOUT``: a client
gone without a word), ends the socket with a reset and a warning naming the client (a
Close frame could not pass its full window anyway). That kernel bound overrides
keepalive's count of probes (tcp(7)): a client gone while idle is found after about
``send_timeout`` too, once keepalive is armed (:data:`KEEPALIVE`).
Subprotocols that are not ASCII are a 400; an extension offer with a bad parameter is
declined (the socket opens uncompressed).
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
from collections.abc import Iterator
from socket import MSG_PEEK
from typing import TYPE_CHECKING, Any

import h11
import trio
from wsproto.connection import Connection, ConnectionState, ConnectionType
from wsproto.events import BytesMessage, CloseConnection, Event, Message, Ping, TextMessage
from wsproto.extensions import Extension
from wsproto.frame_protocol import CloseReason
from wsproto.handshake import WEBSOCKET_VERSION, server_extensions_handshake
from wsproto.utilities import LocalProtocolError, generate_accept_token, split_comma_header

from ._deflate import BoundedDeflate
from ._scope import request_scope
from ._types import Message as AsgiMessage
from ._upgrade import header

if TYPE_CHECKING:
    from ._http import HttpConnection

log = logging.getLogger("symphony.httpd")

#: How long the server waits for the client's reply to its Close frame.
CLOSE_WAIT = 1.0
#: The TCP states (Linux) of a connection whose client is still sending: established, or
#: ours closing first (our Close sent, the client's reply awaited).
_SENDING = frozenset({1, 4, 5})  # ESTABLISHED, FIN_WAIT1, FIN_WAIT2
#: TCP keepalive (idle, interval, count; seconds) of a WebSocket whose app asks whether
#: the client left. A client that closed while its own send waited for us (we were not
#: reading: the app's far side was not) has its FIN queued behind its unread bytes; its
#: kernel probes our zero window, then drops the connection without a reset (minutes,
#: with Linux's defaults), and our side would stay established for good. Its probes
#: count as traffic, so ours start only once they stop; then the reset of a kernel that
#: no longer knows the connection (or, its host gone, no answer in 15 s) ends ours. A
#: client still there answers: however long it waits for a slow far side, it stays.
KEEPALIVE = (10, 5, 3)


def _keep_alive(sock: Any) -> None:
    """Arm :data:`KEEPALIVE` on ``sock`` (OSError where TCP keepalive cannot be set)."""
    idle, interval, count = KEEPALIVE
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPIDLE, idle)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPINTVL, interval)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_KEEPCNT, count)


#: The bounds of the ``symphony.send_timeout`` extension (seconds): a second to a day.
SEND_TIMEOUT_RANGE = (1.0, 86400.0)
#: The most ``TCP_USER_TIMEOUT`` takes: milliseconds in a C int (~24.8 days).
_USER_TIMEOUT_MAX_MS = 2**31 - 1


def _user_timeout(sock: Any, seconds: float) -> None:
    """Have the kernel reset ``sock`` once bytes sent on it stay unacknowledged for
    ``seconds`` (Linux's ``TCP_USER_TIMEOUT``; nothing where it cannot be set). A send
    that fits the kernel's buffer returns at once: to a client gone without a word, its
    bytes would be retransmitted for many minutes (``tcp_retries2``), and keepalive
    does not probe while they are. A client whose window stays full that long is reset
    too (measured on Linux 6.18), as our own write timeout would: each window update
    it sends starts the kernel's bound anew. The bound is clamped to the most the
    kernel takes (milliseconds in a C int, ~24.8 days)."""
    milliseconds = min(seconds * 1000, _USER_TIMEOUT_MAX_MS)  # past it: OverflowError
    # Not Linux, or not TCP (AttributeError, OSError); NaN (ValueError): no kernel bound,
    # never a failed accept.
    with contextlib.suppress(AttributeError, OSError, OverflowError, ValueError):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(milliseconds))


async def serve_websocket(conn: HttpConnection, request: h11.Request) -> None:
    """Run the app for the WebSocket ``request`` asks for; the caller closes the socket."""
    try:
        scope = request_scope(
            "websocket", request, client=conn.client, server=conn.server, state=conn.state
        )
        key = header(request, b"sec-websocket-key")
        valid = (
            request.http_version == b"1.1"
            and key is not None
            and header(request, b"sec-websocket-version") == WEBSOCKET_VERSION
            and isinstance(conn.h11.next_event(), h11.EndOfMessage)  # no body
        )
        protocols = header(request, b"sec-websocket-protocol")
        scope["subprotocols"] = split_comma_header(protocols) if protocols else []
    except (UnicodeDecodeError, h11.RemoteProtocolError):
        valid, key = False, None
    if not valid or key is None:
        await conn._refuse(400, "not a valid WebSocket handshake", request.method)
        return
    session = WebSocket(conn, request, key, scope)
    await session.run()


def negotiate_extensions(request: h11.Request, limit: int) -> tuple[list[Extension], bytes | None]:
    """The extensions to use and the header accepting them (None: no extension).

    An offer the client got wrong (a parameter that is not a number, not ASCII) is
    declined, as RFC 7692 says: the socket opens without compression.
    """
    offered = header(request, b"sec-websocket-extensions")
    if not offered:
        return [], None
    extensions: list[Extension] = [BoundedDeflate(limit)]
    try:
        accepts = server_extensions_handshake(split_comma_header(offered), extensions)
    except (UnicodeDecodeError, ValueError):
        return [], None
    return (extensions, accepts) if accepts else ([], None)


class WebSocket:
    """One WebSocket's ASGI side (see the module)."""

    def __init__(
        self, conn: HttpConnection, request: h11.Request, key: bytes, scope: dict[str, Any]
    ) -> None:
        self.conn = conn
        self.transport = conn.transport
        self.request = request
        self.key = key
        self.scope = scope
        self.state = "handshake"  # -> connected | response -> closed
        self.decided = trio.Event()  # accepted or refused
        self.ws: Connection | None = None
        self._connected_sent = False
        self._events: Iterator[Event] | None = None  # wsproto's, pulled one by one
        self._eof = False
        self._keepalive = False  # armed at the first client_left()
        self._parts: list[Any] = []
        self._size = 0
        self._response: AsgiMessage | None = None
        self.close_code: int | None = None
        self._unsent_close = b""  # a Close frame whose write was cancelled, none of it out
        #: The largest message taken (else close 1009): the server's, or less if the
        #: app asks so before it accepts (the ``symphony.max_message`` extension).
        self.max_message = conn.settings.websocket_max_message
        #: How long a send may take nothing (see the module): none unless the app sets it.
        self.send_timeout = math.inf
        scope["extensions"]["symphony.max_message"] = self.limit_messages
        scope["extensions"]["symphony.send_timeout"] = self.limit_sends
        scope["extensions"]["symphony.client_left"] = self.client_left

    def limit_messages(self, size: int) -> None:
        """Take messages of at most ``size`` bytes (a route that knows its own)."""
        self.max_message = min(self.max_message, size)

    def limit_sends(self, seconds: float) -> None:
        """Give up the socket once a send to it takes nothing for ``seconds`` (a route
        whose client holds something scarce; set before the accept). ValueError outside
        :data:`SEND_TIMEOUT_RANGE`, a second to a day."""
        lo, hi = SEND_TIMEOUT_RANGE
        if not lo <= seconds <= hi:  # NaN fails this too
            raise ValueError(f"a send timeout must be {lo:g} to {hi:g} seconds, not {seconds!r}")
        self.send_timeout = seconds

    def client_left(self) -> bool:
        """Whether the client has ended its side of the socket (or reset it), even with
        bytes it sent before still unread: the kernel's TCP state says so (Linux; False
        where it cannot tell). For an app that reads the next message only when it wants
        one: a client gone meanwhile is otherwise noticed only at that read. The first
        call arms TCP keepalive on the socket (:data:`KEEPALIVE`)."""
        if self.transport.broken:
            return True
        try:
            sock = self.transport.stream.socket
            if not self._keepalive:  # see KEEPALIVE: a client gone without a word
                self._keepalive = True
                _keep_alive(sock)
            info = sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 1)
        except (AttributeError, OSError):  # not Linux, or not TCP
            return False
        return bool(info) and info[0] not in _SENDING

    async def run(self) -> None:
        try:
            await self.conn.app(self.scope, self._receive, self._send)
        except Exception:
            if not self.transport.broken:
                log.exception("the app failed on the WebSocket %s", self.scope["path"])
        await self._abandon()
        if self.transport.stalled and math.isfinite(self.send_timeout):
            host, port = self.conn.client or ("?", 0)
            log.warning(
                "gave up the WebSocket %s of %s:%s: it took nothing sent to it in "
                "%g s (gone without a word, or not reading)",
                self.scope["path"],
                host,
                port,
                self.send_timeout,
            )

    async def _abandon(self) -> None:
        """End what the app left open: a 500 before a decision, a 1011 after the accept."""
        if self.state == "handshake":
            self.state = "closed"
            await self.conn._refuse(500, "the server failed to answer", b"GET")
        elif self.state == "connected":
            await self._write(CloseConnection(code=CloseReason.INTERNAL_ERROR))
            self.state = "closed"
        if self.ws is not None and self.ws.state is ConnectionState.LOCAL_CLOSING:
            with trio.move_on_after(CLOSE_WAIT):  # the client's Close reply, then EOF
                while self.close_code is None and not self.transport.broken:
                    await self._receive_frame()

    async def _write(self, event: Event) -> None:
        assert self.ws is not None
        closing = isinstance(event, CloseConnection)
        try:
            data = self.ws.send(event)
        except LocalProtocolError:  # closed already: nothing more may be sent but...
            # ... a close whose write was cancelled before any byte of it went out:
            # wsproto counts it sent, the client has not seen it (the next close, the
            # gate's or ours, sends it instead: the client gets the app's own code).
            data, self._unsent_close, closing = self._unsent_close, b"", True
            if not data:
                return
        try:
            await self.transport.write(data)
        except trio.Cancelled:
            if closing and not self.transport.broken:  # none of it out (else broken)
                self._unsent_close = data
            raise

    # -- from the client --------------------------------------------------------------

    async def _receive(self) -> AsgiMessage:
        if not self._connected_sent:
            self._connected_sent = True
            return {"type": "websocket.connect"}
        if not await self._decision():
            return {"type": "websocket.disconnect", "code": self.close_code}
        while self.close_code is None:
            if self.state != "connected" or self.transport.broken:
                self.close_code = 1006 if self.transport.broken else 1000
                break
            message = await self._receive_frame()
            if message is not None:
                return message
        return {"type": "websocket.disconnect", "code": self.close_code}

    async def _decision(self) -> bool:
        """Wait for the app to accept or refuse; False if the client left first.

        An app may take long to decide (a relayed WebSocket waits for a node's stream,
        then for the service's own upgrade), and a client that left meanwhile must not
        hold its place that long: the socket is watched for its end (peeked, not read:
        bytes sent before the 101 stay for wsproto)."""
        if self.decided.is_set():
            return True
        left = False
        async with trio.open_nursery() as nursery:

            async def watch() -> None:
                nonlocal left
                try:
                    peeked = await self.transport.stream.socket.recv(1, MSG_PEEK)
                # A reset: gone as well. Closed: a stalled send aborted the socket (its
                # close wakes this wait with trio's error, not the kernel's).
                except (OSError, trio.ClosedResourceError):
                    peeked = b""
                if not peeked:
                    left = True
                    nursery.cancel_scope.cancel()

            nursery.start_soon(watch)
            await self.decided.wait()
            nursery.cancel_scope.cancel()
        if left and not self.decided.is_set():
            self.transport.broken = True  # nothing more is written to it
            self.state = "closed"
            self.close_code = 1006
            return False
        return True

    async def _receive_frame(self) -> AsgiMessage | None:
        """Handle the next frame: a whole message, or None (a ping, a part, the close)."""
        assert self.ws is not None
        # One event at a time: a read may hold many frames, each inflating to the limit.
        while (event := next(self._events, None) if self._events else None) is None:
            if self._eof:
                self.close_code = 1006
                return None
            data = await self.transport.read()
            self.ws.receive_data(data or None)
            self._events = self.ws.events()
            self._eof = not data  # the end: what is left are its last events
        if isinstance(event, Message):
            self._parts.append(event.data)
            self._size += len(event.data)
            if self._size > self.max_message:
                await self._write(CloseConnection(code=CloseReason.MESSAGE_TOO_BIG))
                self.state = "closed"
                self.close_code = CloseReason.MESSAGE_TOO_BIG
                return None
            if not event.message_finished:
                return None
            parts, self._parts, self._size = self._parts, [], 0
            if isinstance(event, TextMessage):
                return {"type": "websocket.receive", "bytes": None, "text": "".join(parts)}
            return {"type": "websocket.receive", "bytes": b"".join(parts), "text": None}
        if isinstance(event, Ping):
            await self._write(event.response())
        elif isinstance(event, CloseConnection):
            if self.ws.state is ConnectionState.REMOTE_CLOSING:
                await self._write(event.response())
            elif self.ws.state is ConnectionState.OPEN:  # wsproto refused a frame: say why
                await self._write(CloseConnection(code=event.code))
            self.state = "closed"
            self.close_code = event.code
        return None

    # -- from the app -----------------------------------------------------------------

    async def _send(self, message: AsgiMessage) -> None:
        kind = message["type"]
        if self.state == "closed" or self.transport.broken:
            return  # the app may finish after the close: its sends go nowhere
        if kind == "websocket.accept" and self.state == "handshake":
            await self._accept(message)
        elif kind == "websocket.send" and self.state == "connected":
            if message.get("bytes") is not None:
                await self._write(BytesMessage(data=bytes(message["bytes"])))
            elif isinstance(message.get("text"), str):
                await self._write(TextMessage(data=message["text"]))
            else:
                raise TypeError("websocket.send needs bytes or text")
        elif kind == "websocket.close" and self.state == "handshake":
            self.state = "closed"
            await self.conn._refuse(403, "the WebSocket was refused", b"GET")
            self.decided.set()
        elif kind == "websocket.close" and self.state == "connected":
            code = int(message.get("code") or CloseReason.NORMAL_CLOSURE)
            await self._write(CloseConnection(code=code, reason=message.get("reason") or ""))
        elif kind == "websocket.http.response.start" and self.state == "handshake":
            self._response = message
            self.state = "response"
        elif kind == "websocket.http.response.body" and self.state == "response":
            await self._send_refusal(message)
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} in WebSocket state {self.state}")

    async def _accept(self, message: AsgiMessage) -> None:
        # A cancelled accept (the app's scope cancelled as it accepts: a step-down, a
        # stop) changes nothing: the handshake may still be refused with an answer.
        # Nothing else writes before the accept, so its 101 then goes out whole at once.
        await trio.lowlevel.checkpoint_if_cancelled()
        headers: list[tuple[bytes, bytes]] = []
        subprotocol = message.get("subprotocol")
        if subprotocol is not None:
            if subprotocol not in self.scope["subprotocols"]:
                raise ValueError(f"subprotocol {subprotocol!r} was not asked for")
            headers.append((b"sec-websocket-protocol", subprotocol.encode()))
        limit = self.max_message
        extensions, accepts = negotiate_extensions(self.request, limit)
        if accepts:
            headers.append((b"sec-websocket-extensions", accepts))
        headers.append((b"sec-websocket-accept", generate_accept_token(self.key)))
        headers += [(b"upgrade", b"WebSocket"), (b"connection", b"Upgrade")]
        for name, value in message.get("headers") or ():
            if name.lower() == b"sec-websocket-protocol":
                raise ValueError("the subprotocol goes in 'subprotocol', not in headers")
            headers.append((name, value))
        data = self.conn.h11.send(h11.InformationalResponse(status_code=101, headers=headers))
        self.ws = Connection(ConnectionType.SERVER, extensions)
        leftover, _ = self.conn.h11.trailing_data
        if leftover:
            self.ws.receive_data(leftover)
            self._events = self.ws.events()
        self.state = "connected"
        self.decided.set()
        # A socket's pace is its own (a forward's reader may pause), unless the app bounds
        # it: then the kernel bounds how long sent bytes may stay unacknowledged too.
        self.transport.write_timeout = self.send_timeout
        if math.isfinite(self.send_timeout):
            _user_timeout(self.transport.stream.socket, self.send_timeout)
        await self.transport.write(data or b"")

    async def _send_refusal(self, message: AsgiMessage) -> None:
        h = self.conn.h11
        parts = []
        if self._response is not None:
            start, self._response = self._response, None
            headers = [*start.get("headers", ()), (b"connection", b"close")]
            parts.append(h.send(h11.Response(status_code=int(start["status"]), headers=headers)))
        body = message.get("body", b"")
        if body:
            parts.append(h.send(h11.Data(data=body)))
        if not message.get("more_body", False):
            parts.append(h.send(h11.EndOfMessage()))
            self.state = "closed"
            self.decided.set()
        await self.transport.write(b"".join(p for p in parts if p))
