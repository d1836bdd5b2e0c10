"""NodeSession: the actor behind one authenticated node link.

The connection handler (:func:`run_session`, run by the wire server in the task that
owns the WebSocket) does the opening exchange, registers the node with the registry and
then reads the link itself until it ends (``session_reader.py``: one task per link, no
reader task in between; heartbeats, statuses and log chunks routed). Other actors send
commands to the node through the session's ref (``tell`` a wire message, or a list of
them as one batch frame): handling one only queues it for a writer task
(``session_writer.py``), so no sender ever waits on the node; a node that stops reading
fails its own link. This module holds the session's state, what it does with each
message sent to it (adapted to what an older node can read), and the link's life from
hello to close.

Identity: the node id is the client certificate's CN. A node holding the shared seed
certificate (CN ``node-client``) may claim any id, with a warning in the log; a
per-node certificate may only speak for its own id.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

from symphony.actors import ActorRef, ActorStopped, InlineActor
from symphony.wire import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_POLICY_VIOLATION,
    ConnectionClosed,
    HelloRejected,
    InstanceStatus,
    LogChunk,
    LogCredit,
    LogRequest,
    Message,
    NodeConnection,
    OpenStream,
    StartInstance,
    answer_hello,
    receive_hello,
)
from symphony.wire.version import LOG_TIMES_PROTOCOL_VERSION, RELAY_PROTOCOL_VERSION

from ..uploads import UploadStore
from .beats import HeartbeatInbox
from .hellocheck import HelloCheck, check_identity, version_refusal
from .model import (
    CloseLogStream,
    CloseSession,
    LinkClosed,
    LogSink,
    OpenLogStream,
    RegisterNode,
    SessionEnded,
)
from .session_reader import ERRORS_LOGGED, ERRORS_SAMPLED, UPLOADS_QUEUED, SessionReader
from .session_writer import SEND_BATCH, SEND_QUEUE, WRITE_TIMEOUT, SessionWriter
from .window import StatusWindow

if TYPE_CHECKING:
    from ..relay import RelayHub

__all__ = [
    "ERRORS_LOGGED",
    "ERRORS_SAMPLED",
    "SEND_BATCH",
    "SEND_QUEUE",
    "UPLOADS_QUEUED",
    "WRITE_TIMEOUT",
    "NodeSession",
    "for_old_node",
    "run_session",
]

log = logging.getLogger("symphony.conductor.nodes")


def for_old_node(message: Any) -> Any:
    """``message`` as a node older than protocol 4 may read it: without
    ``StartInstance.gpus`` (such a node has no devices to give; ``gpu`` is a plain count
    there and the job runs as it always did)."""
    if isinstance(message, StartInstance) and message.gpus is not None:
        return dataclasses.replace(message, gpus=None)
    if isinstance(message, list):
        return [for_old_node(item) for item in message]
    return message


class NodeSession(SessionReader, SessionWriter, InlineActor):
    """Owns one node link after its hello was accepted.

    Messages it handles: a wire :class:`Message` or a list of them (sent to the node as
    one frame), :class:`CloseSession`, and :class:`OpenLogStream` /
    :class:`CloseLogStream` to route the log chunks of a request to a sink. A
    :class:`LogCredit` is dropped for a node that negotiated protocol version 1.

    An inline actor (no task of its own): handling a message never waits (a command is
    queued for the writer, a sink stored), so each is handled in its sender's task, and
    the link costs the Conductor one task (the one that reads it) instead of two, with
    no mailbox between a sender and the writer's queue. ``nursery`` (the link task's,
    set by :func:`run_session`) holds the writer and the reporter once they are needed.
    """

    def __init__(self, conn: NodeConnection, node_id: str, registry: ActorRef) -> None:
        super().__init__(f"session:{node_id}")
        self.nursery: trio.Nursery | None = None
        self.uploads: UploadStore | None = None  # what UploadRead reads from
        self.beats: HeartbeatInbox | None = None  # where heartbeats go; None: the registry
        self.relay: RelayHub | None = None  # who waits for the streams OpenStream asks for
        self.conn = conn
        self.node_id = node_id
        self.registry = registry
        self.close_code = CLOSE_GOING_AWAY
        self.close_reason = "session ended"
        # True once the node has been sent HelloAccepted (see accept()): commands that
        # owners send in reaction to the hello (e.g. "stop this stale copy") must follow
        # it on the wire.
        self.accepted = False
        #: The version negotiated in the hello (set before ``accepted``).
        self.protocol_version = 1
        self._log_sinks: dict[str, LogSink] = {}
        # The writer and the reporter of refused starts, and their queues, are made when
        # first needed: most links of a large fleet carry heartbeats and nothing else,
        # and each idle task with its channel would cost every one of them memory.
        self._refused: trio.MemorySendChannel[InstanceStatus] | None = None
        self._outgoing: trio.MemorySendChannel[Message | list[Message]] | None = None
        # The queue's other end until the writer takes it (the writer starts once both
        # a frame is queued and the node was accepted).
        self._outgoing_out: trio.MemoryReceiveChannel[Message | list[Message]] | None = None
        # True while the link's own task reads it (see run_session), inside the link's
        # nursery: a stop cancels that nursery, which ends the reading. (No cancel scope
        # of its own: a scope entered is two sets and a status object per link.)
        self._reading = False
        self._window: StatusWindow | None = None  # made with the first status
        self._errors = 0  # error reports of the node on this link
        # Answers to upload reads queued and not yet written (see _route).
        self._uploads_queued = 0
        self._upload_sent: trio.Event | None = None

    def stop(self) -> None:
        # A stop (the registry's CloseSession, a failed write, the link's end) ends the
        # reading, and with it the link; later commands fail with ActorStopped.
        super().stop()
        if self._reading and self.nursery is not None:
            self.nursery.cancel_scope.cancel()
        self._end_log_requests()
        if self.relay is not None:
            # The relayed streams it opened have connections of their own, which outlive
            # the link: they end with it, or a visitor would hold a slot to nothing.
            self.relay.session_ended(self.ref, self.close_reason)

    def _end_log_requests(self) -> None:
        """Tell every log request still waiting for this node that its link closed: no
        chunk can come any more, and its reader answers now instead of at its own
        timeout (a tail's is 30 s, longer than many an HTTP client waits)."""
        sinks, self._log_sinks = self._log_sinks, {}
        reason = f"the link to node {self.node_id!r} closed ({self.close_reason})"
        for request_id, sink in sinks.items():
            sink(LinkClosed(request_id, reason))

    def crashed(self, error: Exception) -> None:
        # A message this session cannot handle is a bug of its sender: it ends this link
        # (the node reconnects), never the sender.
        log.error("node %r: session failed: %s: %s", self.node_id, type(error).__name__, error)
        self._close(CLOSE_INTERNAL_ERROR, "internal error")

    def receive(self, message: Any) -> Any:
        if isinstance(message, CloseSession):
            self._close(CLOSE_GOING_AWAY, message.reason)
            return None
        if isinstance(message, OpenLogStream):
            self._log_sinks[message.request_id] = message.sink
            return None
        if isinstance(message, CloseLogStream):
            self._log_sinks.pop(message.request_id, None)
            return None
        if isinstance(message, LogCredit) and self.protocol_version < 2:
            return None  # a version-1 node has no log windows (and would refuse this)
        if isinstance(message, OpenStream) and self.protocol_version < RELAY_PROTOCOL_VERSION:
            # Never sent: an older node does not know the message (it would end the link).
            if self.relay is not None:
                self.relay.refuse(
                    message.stream_id,
                    f"node {self.node_id} speaks protocol {self.protocol_version} and cannot "
                    f"relay (that needs {RELAY_PROTOCOL_VERSION}): upgrade its agent",
                )
            return None
        if isinstance(message, LogRequest) and self._old_for_log_times(message):
            return None
        if self.protocol_version < 4:
            message = for_old_node(message)
        if isinstance(message, Message | list):
            self._queue(message)
            return None
        raise TypeError(f"NodeSession does not handle {type(message).__name__}")

    def _old_for_log_times(self, request: LogRequest) -> bool:
        """End a request by time (``since``, ``timestamps``) at once if the node is older
        than the log times: it would ignore them and send every line, unstamped."""
        if self.protocol_version >= LOG_TIMES_PROTOCOL_VERSION:
            return False
        if request.since_ns is None and not request.timestamps:
            return False
        sink = self._log_sinks.pop(request.request_id, None)
        if sink is not None:
            reason = (
                f"node {self.node_id!r} speaks protocol {self.protocol_version}, which records"
                f" no log times: upgrade it (protocol {LOG_TIMES_PROTOCOL_VERSION}) for"
                " --since and --timestamps"
            )
            sink(LogChunk(request_id=request.request_id, eof=True, reason=reason))
        return True

    def accept(self) -> None:
        """The node was sent HelloAccepted: what was queued meanwhile may follow it."""
        self.accepted = True
        self._start_writer()

    def _close(self, code: int, reason: str) -> None:
        if not self.stopped:  # the first reason is the one the link closes with
            self.close_code, self.close_reason = code, reason
        self.stop()


async def run_session(
    conn: NodeConnection,
    registry: ActorRef,
    *,
    default_heartbeat_sec: float,
    timeout_for: Callable[[float], float],
    hello_timeout: float = 5.0,
    hello_check: HelloCheck | None = None,
    uploads: UploadStore | None = None,
    beats: HeartbeatInbox | None = None,
    relay: RelayHub | None = None,
) -> None:
    """Handle one node connection from hello to close (the wire server's handler body).

    ``hello_check(cert node id, hello)`` may refuse a node's own certificate what it
    claims (the binding of the join token it joined with)."""
    hello = await receive_hello(conn, timeout=hello_timeout)
    refusal, shared = check_identity(conn.cert_node_id, hello)
    if refusal is None:
        # Before the registry hears of it: a node we cannot speak with is never ready
        # (no placement on it, its hello's instances not applied).
        refusal = version_refusal(hello)
    if refusal is None and not shared and hello_check is not None:
        refusal = hello_check(conn.cert_node_id, hello)
    if refusal is not None:
        log.warning("refused node link from %s: %s", conn.remote, refusal)
        await conn.send(HelloRejected(reason=refusal))
        await conn.close(CLOSE_POLICY_VIOLATION, refusal)
        return
    if shared:
        log.warning(
            "node %r uses the shared seed client certificate; per-node certificates "
            "(join tokens) are safer: a shared certificate can claim any node id",
            hello.node_id,
        )
    heartbeat_sec = hello.heartbeat_sec or default_heartbeat_sec
    node_id = hello.node_id
    session = NodeSession(conn, node_id, registry)
    session.uploads = uploads
    session.beats = beats
    session.relay = relay
    ref = session.ref
    registered = False
    try:
        # The link's nursery: the session's writer and reporter, once needed, run here.
        async with trio.open_nursery() as nursery:
            session.nursery = nursery
            refusal = await registry.ask(
                RegisterNode(ref, hello, conn.remote, shared, heartbeat_sec), timeout=10
            )
            if refusal is not None:
                log.warning("refused node link from %s: %s", conn.remote, refusal)
                session.stop()
                await conn.send(HelloRejected(reason=refusal))
                session.close_code, session.close_reason = CLOSE_POLICY_VIOLATION, refusal
                return
            registered = True
            try:
                session.protocol_version = await answer_hello(
                    conn,
                    hello,
                    heartbeat_sec=heartbeat_sec,
                    node_timeout_sec=timeout_for(heartbeat_sec),
                )
            except ConnectionClosed as closed:  # the node left before our answer
                session._close(closed.code, str(closed))
                return
            # The registry keeps what it needs of the hello; this frame lives as long as
            # the link (hours), so it keeps none of the hello's lists and dicts.
            del hello
            session.accept()
            conn.opened()  # the next link may open (admission control)
            # This task, which owns the connection, reads it: no reader task per link.
            await session.read()
            # The link has ended (or the session stopped): what was not written is lost
            # with it, as the node's next hello reconciles.
            nursery.cancel_scope.cancel()
    finally:
        # Whatever ended the session (the link, a lost verdict, a crash, shutdown), it
        # takes no more commands, the registry must hear of it, and the link is closed
        # from this task, which owns the WebSocket.
        session.stop()
        if registered:
            with (
                trio.CancelScope(shield=True, deadline=trio.current_time() + 2.0),
                contextlib.suppress(ActorStopped),
            ):
                await registry.tell(SessionEnded(node_id, ref, session.close_reason))
        await conn.close(session.close_code, session.close_reason)
