"""The API as its Conductor steps down or stops: every request it serves gets an answer.

A leader that loses its lease (it could not renew in time, or a write of its was
fenced) stops its actors at once; its API stays open a moment longer, behind this
gate, so that no request it took is left with a closed connection and no answer
(:meth:`StepDownGate.step_down`, then :meth:`StepDownGate.settle`):

- a request that comes from then on is answered ``503`` at once, with
  ``Retry-After: 1`` and ``X-Symphony-Role: standby`` (nothing was applied: a client
  with several URLs tries the next; another Conductor leads, or will in a moment);
- a stream (a followed log, ``/live``) ends at once, as a stream ends, with a last line
  (a log) or event (``closing``, on ``/live``) that says why;
- a request whose body has not all come is answered at once too (as below): it
  cannot be applied now, with the actors stopping;
- the other requests get up to :data:`GRACE` seconds to finish. An answer of theirs
  that is an error of the server (5xx: an actor stopped under it, the node links
  closed) is replaced, as is the answer of one still unfinished then: a read, or a
  change during which nothing was written (the store committed nothing since it
  began), gets the 503 above; a change during which the store did commit gets a
  ``502``: it may have been applied, so check before repeating it. A write the store
  refused because the lease had changed hands (``Fenced``) keeps its own 503, which
  carries the standby header already: nothing of it was applied.

The store is fenced before the gate closes (every write after the step-down is
refused), and its writes never await, so "nothing committed since it began" is exact
for this Conductor's own writes; another request's commit meanwhile only makes the
answer a careful 502. A response of known length that had begun can only be cut.
A WebSocket (a port-forward, a service's own) is an endless stream too: the step-down
or stop closes it at once with a code and the reason (1012, service restart, as the
leader steps down: another Conductor leads, or will in a moment; 1001, going away, as it
stops), and one asked for from then on is refused with the 503 above. The close goes out
whatever the app was sending then: the server knows how far a cancelled send got. One
cancelled before any byte of it went out (it waited for the socket, or woke as the scope
was cancelled) left the stream between two frames, where the close fits (the app's own
close, cancelled so, goes out instead, with its code); one cut half-way broke the
socket, and nothing more is written to it (the client sees the connection end, 1006).
An accept cancelled before its 101 went out leaves the handshake to be refused with the
503 above.

A clean stop (SIGTERM or Ctrl-C, or an embedded ``run_conductor`` cancelled) goes
through the same gate, with :meth:`StepDownGate.stop` instead of ``step_down``: new
requests get the ``503`` at once (``X-Symphony-Role: stopping``), the streams end with a
last line or event saying the Conductor is stopping, and the other requests, a body
still coming included, get up to :data:`STOP_GRACE` seconds with the actors still
running (a create that commits in that time gets its ``201``, and an error of theirs
is their own); the rest are answered as above. Only then do the actors stop.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import trio

from symphony.httpd import ASGIApp, ASGIReceiveCallable, ASGISendCallable, Message, Scope

from .roleheaders import ROLE_HEADER, answer_retry

#: Seconds the requests in flight may take to finish once the leader steps down.
GRACE = 0.5
#: ... once the Conductor is asked to stop (its actors still run meanwhile).
STOP_GRACE = 1.0
#: The close codes of the WebSockets the gate ends (RFC 6455 7.4.1; IANA's registry).
CLOSE_STEPPED_DOWN = 1012  # service restart: try again (another Conductor leads)
CLOSE_STOPPING = 1001  # going away
#: Seconds a WebSocket's close frame may take to go out (a client may not be reading).
CLOSE_SEND = 1.0
#: Methods that change nothing: a client may repeat them whatever became of the first.
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_ROLE = ROLE_HEADER.encode()
#: The error of every 503 a leader gives once it stopped leading (also the fenced one's).
NOT_LEADER = "this Conductor is no longer the leader"
#: Why, in the answers and in the streams' last words.
STOPPED = "this Conductor stopped leading (its lease ran out or was taken over)"
#: The error of the 503s of a Conductor that is stopping, and why.
STOPPING = "this Conductor is stopping"
STOPPING_WHY = "this Conductor is stopping (it was asked to: SIGTERM, Ctrl-C or its embedder)"


class StepDownGate:
    """An ASGI app in front of a Conductor's API that answers as the module says.

    ``commits()`` counts the store's committed writes (``Store.commits``). The app
    behind it may be set later (``gate.app = ...``), before the first request.
    """

    def __init__(self, commits: Callable[[], int], app: ASGIApp | None = None) -> None:
        self.commits = commits
        self.app = app
        #: True once the leader stepped down or the Conductor stops: nothing more goes
        #: to the app.
        self.closed = False
        self.stopping = False  # ... and it is a stop, not a step-down
        self._flights: set[_Flight] = set()
        self._tunnels: set[_Tunnel] = set()  # WebSockets: ended by step_down or stop
        self._changed = trio.Event()  # a flight ended or began to stream

    @property
    def config(self) -> Any:
        """The app's configuration (the server sets its closing flag there)."""
        return getattr(self.app, "config", {})

    def step_down(self) -> None:
        """Stop taking requests in and end the streams now (see the module)."""
        self.closed = True
        for flight in self._flights:
            # A stream would take the whole grace, and a request whose body has not all
            # come cannot be applied now (the actors are stopping): neither waits.
            if flight.streaming or not flight.body_done:
                flight.scope.cancel()
        self._end_tunnels()

    def stop(self) -> None:
        """The Conductor stops: take no more requests and end the streams now; the
        requests in flight may still finish (see the module and :meth:`settle`)."""
        self.closed = self.stopping = True
        for flight in self._flights:
            if flight.streaming:
                flight.scope.cancel()
        self._end_tunnels()

    def _end_tunnels(self) -> None:
        for tunnel in self._tunnels:
            tunnel.scope.cancel()

    async def settle(self, grace: float = GRACE) -> None:
        """Give the requests in flight ``grace`` seconds, then answer the rest (see the
        module). Returns once each was told to: their answers go out from their own
        tasks at once, before the server's graceful stop ends."""
        with trio.move_on_after(grace):
            while self._flights:
                self._changed = trio.Event()
                await self._changed.wait()
        for flight in self._flights:
            flight.scope.cancel()

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        assert self.app is not None, "StepDownGate: no app behind it"
        if scope["type"] == "websocket":
            await self._tunnel(scope, receive, send)
            return
        if scope["type"] != "http":  # lifespan
            await self.app(scope, receive, send)
            return
        if self.closed:
            await answer_retry(send, *self._refusal("it takes no request now"), self.role)
            return
        flight = _Flight(self, scope["method"], self.commits(), _has_body(scope))
        self._flights.add(flight)
        try:
            with flight.scope:
                await self.app(scope, flight.wrap_receive(receive), flight.wrap(send))
            if flight.scope.cancelled_caught or flight.replaced:  # cut short, or failed
                await flight.cut_short(send, scope["path"])
        finally:
            self._flights.discard(flight)
            if self.closed:  # only settle() waits for it
                self._changed.set()

    async def _tunnel(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        """A WebSocket: refused once the gate is closed, else served until the
        step-down or stop ends it with a close that says why (see the module)."""
        assert self.app is not None
        if self.closed:
            await answer_retry(_denial(send), *self._refusal("it takes no request now"), self.role)
            return
        tunnel = _Tunnel()
        self._tunnels.add(tunnel)
        try:
            with tunnel.scope:
                await self.app(scope, receive, tunnel.wrap(send))
            if tunnel.scope.cancelled_caught:
                await self._end_tunnel(tunnel, send)
        finally:
            self._tunnels.discard(tunnel)

    async def _end_tunnel(self, tunnel: _Tunnel, send: ASGISendCallable) -> None:
        if tunnel.ended:
            return  # closed or refused by the app already
        # Whatever the app's last send was doing: a frame it cut half-way broke the
        # socket, and the server writes nothing after it (see the module).
        with trio.move_on_after(CLOSE_SEND):
            if tunnel.accepted:
                code = CLOSE_STOPPING if self.stopping else CLOSE_STEPPED_DOWN
                await send({"type": "websocket.close", "code": code, "reason": self.why})
            else:
                why = "it had not accepted this WebSocket"
                await answer_retry(_denial(send), *self._refusal(why), self.role)

    @property
    def role(self) -> bytes:
        """The ``X-Symphony-Role`` of the gate's answers."""
        return b"stopping" if self.stopping else b"standby"

    def verdict(self, flight: _Flight) -> tuple[int, str, str]:
        """The answer for a request the step-down or stop stopped or failed (see the
        module). A request whose body had not all come was not applied."""
        if (
            flight.method in _SAFE_METHODS
            or not flight.body_done
            or self.commits() == flight.commits
        ):
            return self._refusal("it had not answered this request")
        return (
            502,
            STOPPING if self.stopping else "the leader changed",
            f"{self.why} while it had this request, unanswered; it may have been applied: "
            "check before repeating it",
        )

    @property
    def why(self) -> str:
        """Why the gate answers instead of the app (said in its answers)."""
        return STOPPING_WHY if self.stopping else STOPPED

    def _refusal(self, why: str) -> tuple[int, str, str]:
        if self.stopping:
            return (
                503,
                STOPPING,
                f"{STOPPING_WHY}; {why}, and nothing was applied: retry in a moment (or at "
                "another Conductor sharing its store)",
            )
        return _not_leader(why)


def _denial(send: ASGISendCallable) -> ASGISendCallable:
    """``send`` for an HTTP answer to a WebSocket's handshake (ASGI's
    ``websocket.http.response``, which the server supports)."""

    async def deny(message: Message) -> None:
        await send({**message, "type": "websocket." + message["type"]})

    return deny


class _Tunnel:
    """One WebSocket served behind the gate: its cancel scope, and how far it got."""

    __slots__ = ("accepted", "ended", "scope")

    def __init__(self) -> None:
        self.scope = trio.CancelScope()
        self.accepted = False  # the handshake was answered 101
        self.ended = False  # closed or refused by the app already

    def wrap(self, send: ASGISendCallable) -> ASGISendCallable:
        async def tracked(message: Message) -> None:
            kind = message["type"]
            await send(message)
            if kind == "websocket.accept":
                self.accepted = True
            elif kind == "websocket.close" or (
                kind == "websocket.http.response.body" and not message.get("more_body", False)
            ):
                self.ended = True

        return tracked


def _has_body(scope: Scope) -> bool:
    """Whether a request comes with a body (a length above 0, or chunks)."""
    # ASGI's header names are in lower case (h11 gives them so): no lower() per header,
    # which was a seventh of the gate's cost.
    for name, value in scope["headers"]:
        if name == b"content-length":
            if value.strip() != b"0":
                return True
        elif name == b"transfer-encoding":
            return True
    return False


def _not_leader(why: str) -> tuple[int, str, str]:
    return (
        503,
        NOT_LEADER,
        f"{STOPPED}; {why}, and nothing was applied: retry (another Conductor leads, or "
        "will in a moment)",
    )


class _Flight:
    """One request in flight: its cancel scope, and how far its answer got."""

    __slots__ = (
        "body_done",
        "commits",
        "gate",
        "head",
        "method",
        "replaced",
        "scope",
        "sending",
        "started",
    )

    def __init__(self, gate: StepDownGate, method: str, commits: int, has_body: bool) -> None:
        self.gate = gate
        self.method = method
        self.commits = commits  # the store's count when the request came
        self.body_done = not has_body  # the request's body came whole (or it has none)
        self.scope = trio.CancelScope()
        self.started = False  # the answer's head went (or is going) to the client
        self.head: Any = ()  # ... with these headers (as the app gave them)
        self.replaced = False  # the gate answered instead of the app
        self.sending = False  # a send to the client is under way

    @property
    def headers(self) -> dict[bytes, bytes]:
        """The answer's headers, by lower-case name (read only as the leader steps
        down: nothing is spent on them per request)."""
        return {bytes(k).lower(): bytes(v) for k, v in self.head}

    @property
    def streaming(self) -> bool:
        """Sending a body of unknown length (a stream, which may never end)."""
        return self.started and b"content-length" not in self.headers

    def wrap_receive(self, receive: ASGIReceiveCallable) -> ASGIReceiveCallable:
        if self.body_done:
            return receive

        async def gated() -> Message:
            message = await receive()
            if not message.get("more_body", False):  # its end, or the client left
                self.body_done = True
            return message

        return gated

    def wrap(self, send: ASGISendCallable) -> ASGISendCallable:
        async def gated(message: Message) -> None:
            if self.replaced:
                return  # the gate answers instead (cut_short, outside the scope)
            if self.scope.cancel_called:
                # Cut short already: none of this message goes out (raises Cancelled
                # here, before ``sending``), so cut_short may still end the stream.
                await trio.lowlevel.checkpoint()
            cut = False
            if message["type"] == "http.response.start" and not self.started:
                self.started, self.head = True, message.get("headers", ())
                if self.gate.closed:
                    # Stopping, the actors still run: a 5xx then is the app's own.
                    failed = int(message["status"]) >= 500 and not self.gate.stopping
                    if failed and _ROLE not in self.headers:
                        # Answered by cut_short, outside this scope: settle() cancelling
                        # the scope cannot cut that answer half-way.
                        self.replaced = True
                        self.scope.cancel()
                        return
                    # A stream begun meanwhile ends at once too, once its head is out
                    # (cancelled before, the server would not write the head at all).
                    cut = self.streaming
            # Left set if the send is cancelled half-way: nothing may follow it then.
            self.sending = True
            await send(message)
            self.sending = False
            if cut:
                self.scope.cancel()

        return gated

    async def cut_short(self, send: ASGISendCallable, path: str) -> None:
        """Answer what the step-down stopped, as the module says."""
        if self.replaced or not self.started:
            await answer_retry(send, *self.gate.verdict(self), self.gate.role)
            return
        if not self.streaming or self.sending:
            # A body of known length cut short, or a write cut half-way: only closing
            # the connection says so.
            return
        await send(
            {"type": "http.response.body", "body": self._last_words(path), "more_body": False}
        )

    def _last_words(self, path: str) -> bytes:
        """A stream's last line, in its own format, for the streams of this API."""
        kind = self.headers.get(b"content-type", b"")
        if self.gate.stopping:
            why = f"{STOPPING_WHY}; reconnect in a moment"
        else:
            why = f"{STOPPED}; reconnect: another Conductor leads, or will in a moment"
        if kind.startswith(b"text/event-stream") and path == "/live":
            return b"event: closing\ndata: " + json.dumps({"reason": why}).encode() + b"\n\n"
        if b"x-symphony-instance" in self.headers:  # a followed log
            return f"[symphony] {why}\n".encode()
        return b""
