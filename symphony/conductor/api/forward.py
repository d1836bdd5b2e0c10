"""The standby's API: every request goes on to the leader, the answer comes back.

A standby Conductor holds no node links and must not write, so it cannot answer a
write, a log read or a ``/live`` stream itself; forwarding everything keeps it simple
and keeps clients unchanged (they may list every Conductor in ``SYMPHONY_URL`` and talk
to whichever answers). Streamed answers (``logs?follow``, ``/live``) stream through.
WebSockets are not forwarded: their upgrade is refused with the standby's 503, which
names the leader (``symphony port-forward`` goes on to its next URL).

The leader's URL is the one published with its lease. With no leader (the lease ran
out and nobody took it yet) or a leader that does not answer, the standby says so
with a 503 and ``X-Symphony-Role: standby``: nothing was applied, and a client with
several URLs tries the next. A leader that took the request but gave no answer is a
502: it may have been applied, so clients do not repeat it on their own.
A request that was forwarded once is never forwarded again (two standbys that both
believe the other leads must not bounce it between them).

When the standby takes over, it hands over (:meth:`Forwarder.hand_over`) before it
closes its listener: the forwards in flight get a moment to finish, and those still
waiting for the old leader are answered then, never cut: a read with a 503 and
``Retry-After`` ("the leader changed; retry": this Conductor answers it itself in a
moment), a change with the 502 above (the old leader had it, and may have applied it).
A stream being passed on (a followed log, ``/live``) ends as a stream ends, at once:
it does not hold the others' grace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import httpx
import trio

from symphony.httpd import ASGIReceiveCallable, ASGISendCallable, Message, Scope

from .lifespan import answer_lifespan
from .roleheaders import FORWARDED_HEADER, ROLE_HEADER, answer_retry

log = logging.getLogger("symphony.conductor.api")
#: Headers of one hop, not to be passed on (RFC 9110 section 7.6.1), and Host (the
#: leader checks its own).
_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
    }
)

_BODY_HEADERS = frozenset({"content-length", "transfer-encoding"})
#: Methods that change nothing: a client may repeat them whatever became of the first.
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Seconds the forwards in flight may take to finish when this standby takes over.
HANDOVER_GRACE = 0.5


class Forwarder:
    """An ASGI app that forwards every HTTP request to ``leader_url()``."""

    def __init__(self, leader_url: Callable[[], str | None], client: httpx.AsyncClient) -> None:
        self.leader_url = leader_url
        self.client = client
        #: True once this standby is taking over: nothing more is forwarded.
        self.handing_over = False
        self._forwards: set[_Flight] = set()  # in flight
        self._drained = trio.Event()  # set, while handing over, when none is awaited

    async def hand_over(self, grace: float = HANDOVER_GRACE) -> None:
        """This standby takes over: forward nothing more (a request that comes now is
        answered 503, "the leader changed; retry"), let the forwards in flight finish
        for ``grace`` seconds, then have the rest answered (see the module). Returns
        once each was told to; their answers go out from their own tasks at once.

        Streams being passed on do not hold the grace: they would take all of it (a
        followed log, the web UI's ``/live``), and end the same way after it."""
        self.handing_over = True
        self._end_streams()
        with trio.move_on_after(grace):
            if not self._settled():
                await self._drained.wait()
        for flight in self._forwards:
            flight.scope.cancel()

    def _settled(self) -> bool:
        """No forward in flight waits for more than the end of a stream."""
        return all(flight.streaming for flight in self._forwards)

    def _changed(self) -> None:
        """A forward ended or began to stream: while handing over, maybe the last."""
        if self.handing_over:
            self._end_streams()  # one begun meanwhile ends at once too
            if self._settled():
                self._drained.set()

    def _end_streams(self) -> None:
        """End the streams being passed on, whose heads are out (see the module)."""
        for flight in self._forwards:
            if flight.streaming:
                flight.scope.cancel()

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        if scope["type"] == "lifespan":
            await answer_lifespan(receive, send)
            return
        if scope["type"] == "websocket":
            await self._refuse_websocket(send)
            return
        if scope["type"] != "http":
            return
        headers = [(k.decode("latin-1").lower(), v.decode("latin-1")) for k, v in scope["headers"]]
        if any(k == FORWARDED_HEADER for k, _ in headers):
            await _unavailable(send, "the request came from another standby")
            return
        if self.handing_over:
            await _leader_changed(send, "this Conductor is taking over as the leader")
            return
        leader = self.leader_url()
        if leader is None:
            await _unavailable(send, "no leader holds the lease right now; try again shortly")
            return
        flight = _Flight(scope["method"], self._changed)
        self._forwards.add(flight)
        try:
            with flight.scope:
                await self._forward(scope, headers, leader, receive, send, flight)
        finally:
            self._forwards.discard(flight)
            self._changed()
        if flight.scope.cancelled_caught:  # handed over before it was answered whole
            await flight.cut_short(send, leader)

    async def _refuse_websocket(self, send: ASGISendCallable) -> None:
        """A WebSocket (a port-forward, a service's own under ``/x/``) is not forwarded:
        refused with the standby's 503, which names the leader to connect to instead
        (our client goes on to its next URL, as for any 503 of a standby)."""
        leader = None if self.handing_over else self.leader_url()
        where = f"connect to the leader at {leader}" if leader else "no leader is known yet"
        detail = f"a standby does not forward WebSockets: {where}"

        async def deny(message: Message) -> None:  # ASGI's websocket.http.response
            await send({**message, "type": "websocket." + message["type"]})

        await _unavailable(deny, detail)

    async def _forward(
        self,
        scope: Scope,
        headers: list[tuple[str, str]],
        leader: str,
        receive: ASGIReceiveCallable,
        send: ASGISendCallable,
        flight: _Flight,
    ) -> None:
        """Send the request on to ``leader`` and its answer back."""
        body = _Body(receive) if any(k in _BODY_HEADERS for k, _ in headers) else None
        target = leader.rstrip("/") + scope["raw_path"].decode("latin-1")
        if scope["query_string"]:
            target += "?" + scope["query_string"].decode("latin-1")
        request = self.client.build_request(
            scope["method"],
            target,
            headers=[(k, v) for k, v in headers if k not in _HOP] + [(FORWARDED_HEADER, "1")],
            # Without Content-Length or Transfer-Encoding a request has no body.
            content=body if body is not None else b"",
        )
        if body is not None:
            # httpx wraps an iterable in an async generator of its own, left suspended
            # (and warned about when collected) when the leader answers before reading
            # the whole body (its 413): httpx gets the class-based stream itself.
            request.stream = body
        try:
            response = await self.client.send(request, stream=True)
        except httpx.ConnectError as error:  # nothing was sent: safe to try elsewhere
            log.warning("the leader at %s does not answer: %s", leader, error)
            await _unavailable(send, f"the leader at {leader} does not answer: {error}")
            return
        except httpx.HTTPError as error:  # sent, maybe applied: the client must not retry
            log.warning("the leader at %s did not answer: %s", leader, error)
            await answer_retry(
                send,
                502,
                "the leader did not answer",
                f"the request went to the leader at {leader}, which did not answer "
                f"({error}); it may have been applied: check before repeating it",
            )
            return
        try:
            passed = [
                (k.encode("latin-1"), v.encode("latin-1"))
                for k, v in response.headers.multi_items()
                if k.lower() not in _HOP
            ]
            # Marked first: from here on a second head could not be sent.
            flight.began(sized="content-length" in response.headers)
            await send(
                {
                    "type": "http.response.start",
                    "status": response.status_code,
                    "headers": [*passed, (ROLE_HEADER.encode(), b"standby")],
                }
            )
            flight.head_out()
            await _pass_body(response, send)
        except* httpx.HTTPError as group:  # the leader went away mid-answer: cut it short
            log.warning("the leader at %s stopped answering: %s", leader, group.exceptions[0])
        finally:
            # Also when the client left and we are cancelled: release the leader's
            # connection now (an orderly teardown of a few lines, bounded).
            with trio.CancelScope(shield=True, deadline=trio.current_time() + 2.0):
                await response.aclose()


class _Flight:
    """One forward in flight: its cancel scope (cancelled to hand over) and how far its
    answer got."""

    __slots__ = ("changed", "method", "out", "scope", "sized", "started")

    def __init__(self, method: str, changed: Callable[[], None]) -> None:
        self.method = method
        self.changed = changed  # told when it begins to stream
        self.scope = trio.CancelScope()
        self.started = False  # the answer's head went (or is going) to the client
        self.sized = False  # ... with a Content-Length
        self.out = False  # ... and it went (a stream cut before would have no head)

    @property
    def streaming(self) -> bool:
        """Passing on a body of unknown length (a stream, which may never end), its
        head sent."""
        return self.out and not self.sized

    def began(self, *, sized: bool) -> None:
        """The answer's head goes to the client now."""
        self.started, self.sized = True, sized

    def head_out(self) -> None:
        """The answer's head went to the client."""
        self.out = True
        self.changed()

    async def cut_short(self, send: ASGISendCallable, leader: str) -> None:
        """Answer what the hand-over stopped, as the module says."""
        if self.started:
            if self.streaming:  # it ends as streams end
                await send({"type": "http.response.body", "body": b"", "more_body": False})
            # A body of known length cut short: only closing the connection says so.
            return
        if self.method in _SAFE_METHODS:
            await _leader_changed(send, f"the old leader at {leader} had not answered")
            return
        await answer_retry(
            send,
            502,
            "the leader changed",
            f"this Conductor took over as the leader while the old one at {leader} had "
            "this request, unanswered; it may have been applied: check before repeating it",
        )


class _Body(httpx.AsyncByteStream):
    """The client's body, streamed on as it comes, never held whole: the leader enforces
    its own limits (413) on what a hostile client sends through a standby."""

    def __init__(self, receive: ASGIReceiveCallable) -> None:
        self._receive = receive
        self._done = False

    def __aiter__(self) -> _Body:
        return self

    async def __anext__(self) -> bytes:
        while not self._done:
            message = await self._receive()
            self._done = not message.get("more_body", False)
            chunk = message.get("body", b"")
            if isinstance(chunk, bytes) and chunk:
                return chunk
        raise StopAsyncIteration


async def _pass_body(response: httpx.Response, send: ASGISendCallable) -> None:
    """Send the leader's body on as it comes (a followed log, a live stream never ends).

    The leader's body is read by a task of its own that is cancelled when we stop (the
    client left, or the standby stops): cancelling runs through httpx's nested
    generators and closes them, where leaving the loop by an exception would not.
    """
    chunks_in, chunks_out = trio.open_memory_channel[bytes](16)

    async def read() -> None:
        async with chunks_in:
            async for chunk in response.aiter_raw():
                await chunks_in.send(chunk)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(read)
        try:
            async for chunk in chunks_out:
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            nursery.cancel_scope.cancel()


async def _unavailable(send: ASGISendCallable, detail: str) -> None:
    """503: the request reached no leader (nothing was applied); try another Conductor."""
    await answer_retry(send, 503, "this Conductor is a standby", detail)


async def _leader_changed(send: ASGISendCallable, why: str) -> None:
    """503 while this standby takes over: nothing was applied; retry (here, in a moment,
    or at another Conductor)."""
    await answer_retry(send, 503, "the leader changed; retry", f"{why}; nothing was applied")
