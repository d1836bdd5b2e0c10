"""One HTTP/1.1 connection: h11 parses and frames, the app runs in this task.

Requests on a connection are served one after another in the connection's own task:
no task per request. ``receive()`` reads the socket only when the app asks for more of
the body (memory stays bounded by one read), and once the body is whole it waits for
the client to leave (Quart-Trio awaits that while a response streams). A pipelined next
request read by that wait stays in h11's buffer for the next cycle.

What the server answers itself, in JSON (see ``_refusal``), closing the connection:
400 for a malformed request (and a path that is not UTF-8, and a body framed both by
``Content-Length`` and ``Transfer-Encoding``: a smuggling shape, RFC 9112 6.3), 431 for
an oversize head (h11's hints), 501 for ``CONNECT`` (no tunnels), 500 when the app fails
before its response began; after that, a failure closes the connection, the only signal
HTTP/1.1 has. A request head must arrive within
``head_timeout``, a body at the pace ``body_timeout`` and ``body_min_rate`` set (else
408 and the connection closes); an idle keep-alive connection closes after
``keep_alive_timeout``, or at once when the server stops.
"""

from __future__ import annotations

import logging
import time
from email.utils import formatdate
from typing import Any

import h11
import trio

from ._head import (
    body_at_hand,
    declared_length,
    framed_twice,
    plain_head,
    plain_request,
    renewed,
)
from ._refusal import head_too_large, refusal, unparsed
from ._scope import Address, address, request_scope
from ._settings import ServerSettings
from ._shutdown import Shutdown
from ._transport import Transport
from ._types import ASGIApp, Message
from ._upgrade import is_upgrade

log = logging.getLogger("symphony.httpd")

#: How much of a body the app left unread is read (and dropped) to keep the connection.
DRAIN_LIMIT = 64 * 1024
_DISCONNECT: Message = {"type": "http.disconnect"}
_CONTINUE = h11.InformationalResponse(status_code=100, headers=[])
_END = h11.EndOfMessage()
_date_second = -1
_date_header = b""


def _date() -> bytes:
    """The ``Date`` header's value, formatted once a second."""
    global _date_second, _date_header
    now = int(time.time())
    if now != _date_second:
        _date_second, _date_header = now, formatdate(now, usegmt=True).encode("ascii")
    return _date_header


def _head_size(request: h11.Request) -> int:
    """About the size of a request's head as sent (line and headers)."""
    return len(request.target) + sum(len(n) + len(v) + 4 for n, v in request.headers)


def _no_body(method: bytes, status: int) -> bool:
    """Whether a response carries no body whatever the app sends (RFC 9110 6.4.1)."""
    return method == b"HEAD" or status in (204, 304) or 100 <= status < 200


class HttpConnection:
    """Serves requests on one accepted connection until it closes (see the module)."""

    def __init__(
        self,
        app: ASGIApp,
        stream: trio.SocketStream,
        settings: ServerSettings,
        shutdown: Shutdown,
        state: dict[str, Any],
    ) -> None:
        self.app = app
        self.settings = settings
        self.shutdown = shutdown
        self.state = state
        self.transport = Transport(stream, settings.read_size, settings.write_timeout)
        self.h11 = h11.Connection(h11.SERVER, max_incomplete_event_size=settings.max_head_size)
        self.client: Address | None = None
        self.server: Address | None = None
        # The cycle in progress.
        self._method = b""
        self._head: h11.Response | None = None
        self._plain_request = False  # an answer to it may be written without h11
        self._at_hand: int | None = None  # a plain request's body length, until first read
        self._taken: int | None = None  # its body, taken from h11's buffer: that long
        self._plain: tuple[int, list[Any], bytes, int] | None = None  # such a head, unsent
        self._renew = False  # h11 did not see the answer: the next request needs a fresh one
        self._started = False  # the app sent http.response.start
        self._done = False  # the response is complete
        self._cut = False  # a write of the response was cancelled: it never went out whole
        self._no_body = False
        self._body_done = False  # the request body was delivered whole
        self._left = False  # the client left (or its request was malformed mid-body)
        self._read_ahead = False  # the disconnect watch read once past the request
        self._pending: Any = None  # an h11 event read ahead by _peek_end
        self._served = 0  # requests answered on this connection
        self._body_since = 0.0  # when the request's head was read (its body's clock)
        self._body_received = 0  # bytes of its body read so far
        self._request: h11.Request | None = None
        self._length: int | None = None  # its Content-Length, if a plain request
        self._head_only: trio.CancelScope | None = None  # a HEAD request's app runs in it

    async def run(self) -> None:
        """Serve until the client leaves, a timeout, an error or the server stopping."""
        sock = self.transport.stream.socket
        self.client, self.server = address(sock.getpeername()), address(sock.getsockname())
        try:
            while True:
                request = await self._next_request()
                if request is None:
                    return
                if is_upgrade(request):
                    # Imported at the first upgrade: a Conductor no browser follows needs none.
                    from ._websocket import serve_websocket

                    await serve_websocket(self, request)
                    return
                if not await self._cycle(request):
                    return
        finally:
            await self.transport.close()

    # -- reading the next request head ------------------------------------------------

    async def _next_request(self) -> h11.Request | None:
        """The next request's head, or None: the connection is to close (and was answered)."""
        head_deadline: float | None = None
        while True:
            try:
                event = self.h11.next_event()
            except h11.RemoteProtocolError as error:
                await self._refuse_unparsed(error)
                return None
            if isinstance(event, h11.Request):
                if _head_size(event) > self.settings.max_head_size:
                    # h11 bounds only a head still incomplete; one read can hold it whole.
                    detail = head_too_large(self.settings.max_head_size)
                    await self._refuse(431, detail, event.method)
                    return None
                return event
            if event is not h11.NEED_DATA:  # ConnectionClosed (or PAUSED: cannot be here)
                return None
            if head_deadline is None and self.h11.trailing_data[0]:
                head_deadline = trio.current_time() + self.settings.head_timeout
            data = await self._read_head(head_deadline)
            if data is None:
                if head_deadline is not None:  # a request began and never came whole
                    await self._refuse(408, "the request's head did not come in time")
                return None
            if head_deadline is None:
                head_deadline = trio.current_time() + self.settings.head_timeout
            self.h11.receive_data(data)

    async def _read_head(self, head_deadline: float | None) -> bytes | None:
        """Bytes of a request head; None on a timeout or, between requests, a shutdown."""
        if head_deadline is not None:
            with trio.move_on_at(head_deadline):
                return await self.transport.read()
            return None
        if self._served == 0 or not self.shutdown.closing:
            # Between requests the next one is mostly in already: no wait to set up.
            data = self.transport.read_now()
            if data is not None:
                return data
        deadline = trio.current_time() + self.settings.keep_alive_timeout
        if self._served == 0:
            # A new connection's first request may be on its way already (it was sent
            # with the connect): closing now would reset it. It is served, with
            # Connection: close, within the shutdown's graceful_timeout.
            with trio.move_on_at(deadline) as scope:
                data = await self.transport.read()
            return None if scope.cancelled_caught else data
        # Idle between requests: the shutdown closes this connection at once (a client
        # knows a kept-alive connection may close before its next request).
        scope = trio.CancelScope(deadline=deadline)
        if not self.shutdown.idle(scope):
            return None
        try:
            with scope:
                data = await self.transport.read()
        finally:
            self.shutdown.done(scope)
        return None if scope.cancelled_caught else data

    async def _refuse(self, status: int, detail: str, method: bytes = b"") -> None:
        """Answer ``status`` in JSON (``_refusal``) and close, if nothing was answered
        yet; ``method``: the request's, if its head was read (a HEAD's gets no body)."""
        if self.h11.our_state not in (h11.IDLE, h11.SEND_RESPONSE):
            return
        headers, body = refusal(status, detail)
        headers.append((b"date", _date()))
        try:
            data = self.h11.send(h11.Response(status_code=status, headers=headers)) or b""
            if method != b"HEAD":
                data += self.h11.send(h11.Data(data=body)) or b""
            data += self.h11.send(h11.EndOfMessage()) or b""
        except h11.LocalProtocolError:
            return
        await self.transport.write(data)

    async def _refuse_unparsed(self, error: h11.RemoteProtocolError, method: bytes = b"") -> None:
        detail = unparsed(error, self.settings.max_head_size)
        await self._refuse(error.error_status_hint, detail, method)

    # -- one request-response cycle ---------------------------------------------------

    async def _cycle(self, request: h11.Request) -> bool:
        """Run the app for ``request``; whether the connection may serve another."""
        method = request.method
        if method == b"CONNECT":
            # A tunnel is a proxy's: h11 would switch protocols on the app's 2xx and
            # then refuse its body. Not implemented, as HTTP says for such a method.
            await self._refuse(501, "CONNECT (a proxy's tunnel) is not served here")
            return False
        length = plain_request(request)
        if length is None and framed_twice(request):  # a plain request is framed once
            # Which length a proxy in front took is unknown: the rest of this connection
            # may be another request hidden in this one's body (smuggling). It closes.
            detail = "a request with both Content-Length and Transfer-Encoding is refused"
            await self._refuse(400, detail, method)
            return False
        try:
            scope = request_scope(
                "http", request, client=self.client, server=self.server, state=self.state
            )
        except UnicodeDecodeError:
            await self._refuse(400, "the path is not UTF-8 once percent-decoded", method)
            return False
        self._method = method
        self._request = request
        self._head = self._plain = None
        self._at_hand = self._length = length
        self._plain_request = length is not None
        self._taken = None
        self._renew = False
        self._body_since, self._body_received = trio.current_time(), 0
        self._started = self._done = self._body_done = self._left = self._cut = False
        self._read_ahead = False
        self._pending = None
        self._head_only = None
        try:
            if request.method == b"HEAD":
                # Its answer is whole once its head is out: a stream's app is cancelled
                # then (see _send), else it would run on, holding the connection.
                self._head_only = trio.CancelScope()
                with self._head_only:
                    await self.app(scope, self._receive, self._send)
            else:
                await self.app(scope, self._receive, self._send)
        except Exception:
            if not self.transport.broken:
                log.exception("the app failed on %s %s", scope["method"], scope["path"])
            if self._started and self._head is None and self._plain is None:
                return False  # the response began: closing is the only way to say so
            # Nothing of the app's answer was written yet.
            await self._refuse(500, "the server failed to answer", self._method)
            return False
        if not self._started:
            if self._left or self.transport.broken:
                return False  # the client left before its answer: no one to tell
            log.error("the app gave no response to %s %s", scope["method"], scope["path"])
            await self._refuse(500, "the server gave no answer", self._method)
            return False
        if not self._done or self._cut or self.transport.broken or self.shutdown.closing:
            return False
        if self._taken is not None:  # h11 has the body still, and may not have the answer
            if not (self._renew or self.h11.our_state is h11.DONE):
                return False
            self.h11 = renewed(self.h11, self.settings.max_head_size, self._taken)
            self._served += 1
            return True
        if self.h11.their_state is h11.SEND_BODY and (
            # Over 64 KiB of the body unread: the answer said it closes (the server
            # added ``Connection: close``), and it closes now rather than wait for a
            # body it has no use for. Less is drained, to keep the connection.
            self._unread_rest_too_long() or not await self._drain()
        ):
            return False
        if self.h11.their_state is not h11.DONE:
            return False
        if self._renew:
            self.h11 = renewed(self.h11, self.settings.max_head_size)
        elif self.h11.our_state is h11.DONE:
            self.h11.start_next_cycle()
        else:
            return False
        self._served += 1
        return True

    def _unread_rest_too_long(self) -> bool:
        """Whether more of the request body is unread than :meth:`_drain` reads: the
        connection closes after the answer then, and the answer says so
        (``Connection: close``), so that no client sends its next request into it."""
        if self._body_done or self._taken is not None or self.h11.their_state is not h11.SEND_BODY:
            return False
        length = self._length if self._length is not None else declared_length(self._request)
        return length is None or length - self._body_received > DRAIN_LIMIT

    async def _drain(self) -> bool:
        """Read the rest of a body the app did not ask for (a GET's empty one, mostly).

        Only a little: a larger rest closes the connection instead of being read.
        """
        budget = DRAIN_LIMIT
        with trio.move_on_after(self.settings.head_timeout):
            while True:
                try:
                    event = self._next_body_event()
                except h11.RemoteProtocolError:
                    return False
                if isinstance(event, h11.EndOfMessage):
                    return True
                if isinstance(event, h11.Data):
                    budget -= len(event.data)
                    if budget < 0:
                        return False
                elif event is h11.NEED_DATA and not self._left:
                    data = await self.transport.read()
                    if not data:
                        return False
                    self.h11.receive_data(data)
                else:
                    return False
        return False

    async def _receive(self) -> Message:
        if self._left or self._done or self.transport.broken:
            return _DISCONNECT
        if self._body_done:
            return await self._watch_disconnect()
        if self._at_hand is not None:
            body = body_at_hand(self.h11, self._at_hand)
            if body is not None:
                self._body_done, self._taken = True, self._at_hand
                return {"type": "http.request", "body": body, "more_body": False}
            self._at_hand = None  # not all in yet: h11 reads it
        while True:
            try:
                event = self._next_body_event()
            except h11.RemoteProtocolError as error:  # bad chunked framing, and the like
                if not self._started:
                    # Marked first: the app's task may answer while the refusal is
                    # written, and its answer must go nowhere, not after the refusal.
                    self._started = self._done = True
                    await self._refuse_unparsed(error, self._method)
                self._left = True
                return _DISCONNECT
            if isinstance(event, h11.Data):
                data = bytes(event.data)
                self._body_received += len(data)
                # A body that arrived whole comes in one message (the common case).
                if self._peek_end():
                    self._body_done = True
                    return {"type": "http.request", "body": data, "more_body": False}
                return {"type": "http.request", "body": data, "more_body": True}
            if isinstance(event, h11.EndOfMessage):
                self._body_done = True
                return {"type": "http.request", "body": b"", "more_body": False}
            if event is not h11.NEED_DATA:
                self._left = True
                return _DISCONNECT
            if self.h11.they_are_waiting_for_100_continue and not self._started:
                await self.transport.write(self.h11.send(_CONTINUE) or b"")
            more = await self._read_body()
            if more is None:  # too slow: answered 408 (if it can be) and closed
                self._left = True
                if not self._started:
                    self._started = self._done = True  # first: as above
                    await self._refuse(408, "the request's body did not come in time", self._method)
                return _DISCONNECT
            if not more:
                self._left = True
                return _DISCONNECT
            self.h11.receive_data(more)

    async def _read_body(self) -> bytes | None:
        """More of the request body, or None: it did not come in time. A body has
        ``body_timeout`` from its head, and a second more per ``body_min_rate`` bytes
        received: one sent a byte now and then cannot hold the connection, a large one
        sent at a fair pace is not cut off."""
        settings = self.settings
        deadline = (
            self._body_since + settings.body_timeout + self._body_received / settings.body_min_rate
        )
        with trio.move_on_at(deadline):
            return await self.transport.read()
        return None

    def _next_body_event(self) -> Any:
        if self._pending is not None:
            event, self._pending = self._pending, None
            return event
        return self.h11.next_event()

    def _peek_end(self) -> bool:
        """Whether the body's end is already in the buffer (then it is consumed)."""
        try:
            event = self.h11.next_event()
        except h11.RemoteProtocolError:
            return False  # the next receive() meets it again and answers it
        if isinstance(event, h11.EndOfMessage):
            return True
        if event is not h11.NEED_DATA:
            self._pending = event  # more of a chunked body: the next receive() gives it
        return False

    async def _watch_disconnect(self) -> Message:
        """Wait for the client to leave (the app is cancelled out of this when done).

        Reads at most once past the request: a pipelined next request stays buffered in
        h11 for the next cycle, and a flood of them is not read into memory.
        """
        if self._read_ahead:
            await trio.sleep_forever()
        data = await self.transport.read()
        if not data:
            self._left = True
            return _DISCONNECT
        self._read_ahead = True
        self.h11.receive_data(data)
        await trio.sleep_forever()
        raise AssertionError("unreachable")

    async def _send(self, message: Message) -> None:
        if self._cut:
            return  # the response was cut short: nothing more of it may follow
        kind = message["type"]
        if kind == "http.response.start":
            if self._started:
                if self._done:
                    return  # refused by the server while the app was working
                raise RuntimeError("http.response.start sent twice")
            self._started = True
            status = int(message["status"])
            headers: list[Any] = list(message.get("headers", ()))
            headers.append((b"date", _date()))
            if self.shutdown.closing or self._unread_rest_too_long():
                headers.append((b"connection", b"close"))
            self._no_body = _no_body(self._method, status)
            plain = None
            if self._plain_request and not self._no_body:
                plain = plain_head(status, headers)
            if plain is not None:
                # Written by us if its body comes whole in one message (see ``_head``).
                self._plain = (status, headers, *plain)
                return
            head = h11.Response(status_code=status, headers=headers)
            if any(name.lower() == b"content-length" for name, _ in headers):
                # A body of known length is at hand: the head goes with its first part,
                # one write (and one wake-up of the client) for a small response.
                self._head = head
            elif self._no_body:
                # No body may follow (a HEAD, or a 204, 304 or 1xx status) and no length
                # was given: the response is whole with its head; the app ends.
                await self._write(b"".join(self.h11.send(e) or b"" for e in (head, _END)))
                self._done = True
                if self._head_only is not None:
                    self._head_only.cancel()
            else:  # a stream (SSE, a followed log): the client gets the head now
                await self._write(self.h11.send(head) or b"")
        elif kind == "http.response.body":
            if not self._started:
                raise RuntimeError("http.response.body sent before http.response.start")
            if self._done:
                return  # after the end (or to a client that is gone): ignored, as Hypercorn
            body = message.get("body", b"")
            more = message.get("more_body", False)
            if self._renew:  # a plain answer's whole body is out: only its end may follow
                if body:
                    raise RuntimeError("more body than the Content-Length declared")
                self._done = not more
                return
            if self._plain is not None:
                status, headers, written, length = self._plain
                self._plain = None
                if len(body) == length:  # whole (Quart ends it with an empty message)
                    self._renew, self._done = True, not more
                    await self._write(written + body)
                    return
                self._head = h11.Response(status_code=status, headers=headers)
            parts = []
            if self._head is not None:
                parts.append(self.h11.send(self._head))
                self._head = None
            if body and not self._no_body:
                parts.append(self.h11.send(h11.Data(data=body)))
            if not more:
                parts.append(self.h11.send(h11.EndOfMessage()))
                self._done = True
            await self._write(b"".join(p for p in parts if p))
        else:
            raise RuntimeError(f"unexpected ASGI message {kind!r} on an HTTP request")

    async def _write(self, data: bytes) -> None:
        """Write part of the response, which h11 counts as sent already.

        Cancelled (the app's scope: a step-down, a stop), the response is cut short: the
        connection closes after the app, as it does when part of the write went out
        (the transport breaks then). Cancelled before any byte went out, it could stay
        open, but it may not: the client, its requests pipelined, takes the answers in
        order, and would take the next request's answer for this one (and h11, which
        counts this one as sent, would let it out). A closed connection tells it this
        request went unanswered: it may retry it (RFC 9112 9.3.1).
        """
        try:
            await self.transport.write(data)
        except trio.Cancelled:
            self._cut = True
            raise
