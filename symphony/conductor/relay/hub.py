"""RelayHub: opens relayed streams to nodes and serves the nodes' relay connections.

Opening a stream to a service (a visit's request, a forward's connection, one end of a
tunnel) goes::

    caller          RelayHub                     NodeSession          node
    connect(t) ──>  pending[s] = waiting
                    tell OpenStream(s, port) ──> (control link) ──>   checks the port,
                                                                      dials TCP to it,
    <── stream ──   serve(): RelayAccept(s) <────── relay connection ─ opens one
                                                    (own TLS, same certificate)

The node's relay connection is handed to the caller, who uses it until its ``async
with`` ends; the task that accepted the connection waits that long, then closes it.
A node of protocol 4 or older cannot relay: its session refuses the OpenStream at once
(:meth:`RelayHub.refuse`), and the caller gets a 503 saying so.

Every stream belongs to the node session its OpenStream went through. The relay
connection is a TCP connection of its own, so it outlives a control link that drops (or
a node declared lost): when a session ends, its session calls
:meth:`RelayHub.session_ended`, which ends each of its streams at once (a tunnel's own
end, from the node its process runs on, is kept the same way while it is spliced). One still
waiting for its node fails with a 502; one in use has its socket closed under its user
(every reader and writer of it sees the stream broken) and its ``async with`` block
cancelled (a task waiting on something else, the visitor, ends too), and leaving
``connect``'s ``async with`` then raises a 502 :class:`RelayError` saying the node's link
is gone, which the routes turn into the visitor's close or 502. It costs nothing per
stream: no timer, no task, one scan of the streams open now when a session ends.

A tunnel's first end comes the other way: a node opens a relay connection with
:class:`~symphony.wire.relay.RelayTunnel` for one of its processes, the hub finds where
the name is served (:mod:`.services`), opens a stream there and splices the two.

Plain state shared by the tasks of one Trio loop (``_pending``): it changes only in
synchronous code, never across an ``await``.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import trio

from symphony.actors import ActorRef, ActorStopped, MailboxFull
from symphony.pki import SHARED_CLIENT_CN
from symphony.wire import OpenStream, ProtocolError
from symphony.wire.relay import (
    RelayAccept,
    RelayReply,
    RelayTunnel,
    read_frame,
    splice,
    write_frame,
)
from symphony.wire.tls import TLSStream

from ..nodes.model import GetSession
from ..store import Store, new_id
from .services import RelayError, Target, tunnel_target
from .table import RelayTable
from .visits import Visits

log = logging.getLogger("symphony.conductor.relay")

#: Seconds a node has to answer an OpenStream with its relay connection.
OPEN_TIMEOUT = 10.0
#: Seconds a relay connection has to send its header.
HEADER_TIMEOUT = 5.0
#: The defaults of ``conductor.relay.websocket_max_message`` and ``websockets_per_client``.
WEBSOCKET_MAX_MESSAGE = 4 * 1024 * 1024
WEBSOCKETS_PER_CLIENT = 8
#: The default of ``conductor.relay.send_timeout``: seconds a relayed WebSocket's visitor
#: may take nothing of what is sent to it (each 64 KiB taken starts it anew). A page
#: that reads its WebSocket keeps well within it; one that takes nothing for this long
#: has most likely gone without a word (a laptop's lid closed), or is paused (a debugger,
#: an ``alert``: some browsers read a WebSocket only as its page takes it), and is
#: reset. The kernel's ``TCP_USER_TIMEOUT`` is set to it too, which overrides
#: keepalive's count of probes: an idle vanished visitor is found in about as long.
SEND_TIMEOUT = 30.0


@dataclass(slots=True)
class _Pending:
    node_id: str
    session: ActorRef  # the node session its OpenStream went through
    ready: trio.Event = field(default_factory=trio.Event)
    done: trio.Event = field(default_factory=trio.Event)
    stream: trio.abc.Stream | None = None
    reason: str | None = None
    status: int = 502  # of a refusal: the node's own (502), or it cannot relay (503)
    ended: str | None = None  # why the stream was ended under its user (its session ended)
    # Around the user's ``async with`` body (``connect(..., scoped=True)``): cancelled with
    # the cut, so tasks that wait on something else (the visitor) end too.
    scope: trio.CancelScope | None = None


class RelayHub:
    """See the module docstring. ``registry`` is set once the actor tree exists."""

    def __init__(
        self,
        store: Store,
        *,
        open_timeout: float | None = None,
        websocket_max_message: int = WEBSOCKET_MAX_MESSAGE,
        websockets_per_client: int = WEBSOCKETS_PER_CLIENT,
        send_timeout: float = SEND_TIMEOUT,
    ) -> None:
        self.store = store
        #: The largest message of a service's WebSocket through ``/x/``, each way.
        self.websocket_max_message = websocket_max_message
        #: The ``/x/`` WebSockets one client address may hold at once.
        self.websockets_per_client = websockets_per_client
        #: Seconds a relayed WebSocket's visitor may take nothing sent to it (then it is
        #: given up: ``api/proxy_ws.py``).
        self.send_timeout = send_timeout
        self.registry: ActorRef | None = None
        self.table = RelayTable()
        self.visits = Visits()
        #: Seconds a node has to open a stream, and a service to answer a relayed
        #: WebSocket's upgrade (``None``: :data:`OPEN_TIMEOUT`, read when built).
        self.open_timeout = OPEN_TIMEOUT if open_timeout is None else open_timeout
        self._pending: dict[str, _Pending] = {}
        #: Proxied WebSockets open now by kind, ``visit`` (``/x/``) and ``forward``, and
        #: by (kind, client address): the API's WebSocket routes keep each under its
        #: limit (``api/proxy_ws.py``).
        self.websockets: dict[str, int] = {}
        self.websockets_by_client: dict[tuple[str, str], int] = {}

    # ---- opening a stream to a service ---------------------------------------------------
    @asynccontextmanager
    async def connect(
        self, target: Target, *, scoped: bool = True
    ) -> AsyncIterator[trio.abc.Stream]:
        """A stream to ``target``'s port, open for the ``async with`` block.

        Raises :class:`RelayError`: 503 the node is not connected or cannot relay, 502 it
        refused (the reason is the node's) or its session ended, 504 no answer in time.

        ``scoped``: the block runs in a cancel scope that the session's end cancels, so
        a block that waits on anything else (a visitor, a library's handshake event that
        a closed socket never sets) ends at once too. Pass ``False`` only when the block
        is not one task's ``async with`` (entered in one task, left in another, through
        an exit stack): a cancel scope must be left by the task that entered it; such a
        user then learns of the end only from the cut stream."""
        session = await self._session(target.node_id)
        if session is None:
            raise RelayError(503, f"node {target.node_id} is not connected")
        stream_id = new_id("s")
        pending = _Pending(target.node_id, session)
        self._pending[stream_id] = pending
        try:
            ask = OpenStream(stream_id=stream_id, instance_id=target.instance_id, port=target.port)
            try:
                await session.tell(ask)
            except (ActorStopped, MailboxFull):
                raise RelayError(503, f"node {target.node_id} is not connected") from None
            with trio.move_on_after(self.open_timeout):
                await pending.ready.wait()
            if pending.reason is not None:
                raise RelayError(pending.status, pending.reason)
            if pending.stream is None:
                raise RelayError(
                    504, f"node {target.node_id} did not open the stream in {self.open_timeout:g} s"
                )
            if not scoped:
                yield pending.stream
            else:
                pending.scope = trio.CancelScope()
                try:
                    with pending.scope:
                        yield pending.stream
                except Exception:  # not a cancel from outside (a stop): it goes on as itself
                    # Whatever the cut made of it (a broken stream, a library's own
                    # error, a group): the visitor learns why instead.
                    if pending.ended is None:
                        raise
                    await trio.lowlevel.checkpoint_if_cancelled()  # see below
                    raise RelayError(502, pending.ended) from None
            if pending.ended is not None:
                # The user saw a broken stream (or was cancelled here): this says why,
                # unless an outer scope is cancelled too (the Conductor stops), whose
                # cancel must go on, so that its own close is what the visitor gets.
                await trio.lowlevel.checkpoint_if_cancelled()
                raise RelayError(502, pending.ended)
        finally:
            self._pending.pop(stream_id, None)
            pending.done.set()

    def session_ended(self, session: ActorRef, reason: str) -> None:
        """End every stream that went through ``session`` (see the module docstring).

        Synchronous (the session calls it as it stops): a waiting stream is failed, and
        one in use has its socket closed, which wakes every task blocked on it with an
        error at once, as Trio closes a socket under its users, and its block's cancel
        scope cancelled (``connect``). A cut that fails is logged; the others go on."""
        for pending in list(self._pending.values()):
            if pending.session != session:  # refs compare by their actor
                continue
            why = f"the link to node {pending.node_id} is gone ({reason})"
            if not pending.ready.is_set():
                pending.reason = why
                pending.ready.set()
            elif pending.stream is not None and pending.ended is None:
                pending.ended = why
                try:
                    _cut(pending.stream)
                except Exception:  # one stream's failure must not fail the session's stop
                    log.exception("node %r: cutting a relayed stream failed", pending.node_id)
                if pending.scope is not None:
                    pending.scope.cancel()

    async def _session(self, node_id: str) -> ActorRef | None:
        """The node's live session (None: not connected)."""
        if self.registry is None:
            return None
        session: ActorRef | None = await self.registry.ask(GetSession(node_id), timeout=5)
        return session

    def refuse(self, stream_id: str, reason: str) -> None:
        """Fail a pending stream at once (its node cannot relay)."""
        pending = self._pending.pop(stream_id, None)
        if pending is not None and not pending.ready.is_set():
            pending.reason, pending.status = reason, 503
            pending.ready.set()

    # ---- relay connections from nodes ----------------------------------------------------
    async def serve(self, stream: trio.abc.Stream, node_id: str, remote: str) -> None:
        """Handle one relay connection (the node endpoint's ``data_handler``)."""
        header = None
        with trio.move_on_after(HEADER_TIMEOUT):
            try:
                header = await read_frame(stream)
            except (ProtocolError, trio.BrokenResourceError) as error:
                log.warning("relay connection from node %r (%s): %s", node_id, remote, error)
                return
        if isinstance(header, RelayAccept):
            await self._accepted(stream, node_id, header)
        elif isinstance(header, RelayTunnel):
            await self._tunnel(stream, node_id, header)
        else:
            what = "no header in time" if header is None else type(header).__name__
            log.warning("relay connection from node %r (%s): %s", node_id, remote, what)

    async def _accepted(self, stream: trio.abc.Stream, node_id: str, header: RelayAccept) -> None:
        pending = self._pending.get(header.stream_id)
        if pending is None or pending.ready.is_set():
            await _reply(stream, f"no stream {header.stream_id} is waiting (too late?)")
            return
        if pending.node_id != node_id and node_id != SHARED_CLIENT_CN:
            await _reply(stream, f"stream {header.stream_id} is not for node {node_id}")
            return
        if header.reason is not None:
            pending.reason = f"node {pending.node_id}: {header.reason}"
            pending.ready.set()
            await _reply(stream, None)
            return
        await _reply(stream, None)
        pending.stream = stream
        pending.ready.set()
        await pending.done.wait()  # the caller uses the stream until then

    async def _tunnel(self, stream: trio.abc.Stream, node_id: str, header: RelayTunnel) -> None:
        try:
            target, source = tunnel_target(self.store, node_id, header.instance_id, header.name)
        except RelayError as error:
            log.warning("node %r: tunnel refused: %s", node_id, error)
            await _reply(stream, str(error))
            return
        # The tunnel's own end comes through its node's session too: it ends with it
        # (the far end ends with the far node's, through ``connect``). ``source`` is
        # that node (``node_id`` may be the shared certificate's name).
        key, session = new_id("t"), await self._session(source)
        if session is not None:
            near = _Pending(source, session, stream=stream)
            near.ready.set()
            self._pending[key] = near
        # Checked after registering: a session that stopped during the lookup has
        # already scanned the streams, and one not there (its link reconnecting) never
        # will; either way the tunnel would be spliced with nothing to end it.
        if session is None or not session.alive:
            self._pending.pop(key, None)
            await _reply(stream, f"node {source} is not connected")
            return
        try:
            await self._splice_tunnel(stream, target, source)
        finally:
            self._pending.pop(key, None)

    async def _splice_tunnel(self, stream: trio.abc.Stream, target: Target, source: str) -> None:
        row = self.table.row(
            "tunnel",
            target.experiment,
            target.service,
            source=source,
            node_id=target.node_id,
            port=target.port,
        )
        replied = False
        try:
            async with self.connect(target) as far:
                await _reply(stream, None)
                replied = True
                row.opened()
                try:
                    await splice(stream, far, a_to_b=row.to_service, b_to_a=row.from_service)
                finally:
                    row.closed()
        except RelayError as error:
            row.failed(str(error))
            if not replied:  # after the reply, the stream carries the tunnel's own bytes
                await _reply(stream, str(error))


def _cut(stream: trio.abc.Stream) -> None:
    """Close ``stream`` now, from any task (the node endpoint's relay connections are
    :class:`~symphony.wire.tls.TLSStream`; see its ``cut``)."""
    if isinstance(stream, TLSStream):
        stream.cut()


async def _reply(stream: trio.abc.Stream, reason: str | None) -> None:
    # A node that left needs no answer.
    with contextlib.suppress(trio.BrokenResourceError, trio.ClosedResourceError):
        await write_frame(stream, RelayReply(reason=reason[:4096] if reason else None))
