"""NodeSession: the actor behind one authenticated node link.

The connection handler (run by the wire server, in the task that owns the WebSocket)
does the opening exchange, registers the node with the registry and then reads the link
itself until it ends: one task per link reads its frames, with no reader task or message
channel in between. The reading validates nothing itself:
:mod:`symphony.wire` already turned every frame into a typed message or refused it.
The session routes them: heartbeats to the registry's inbox (in batches, see ``beats.py``),
statuses to the registry, log chunks to whoever asked for them. Other actors send
commands to the node through the session's ref (``tell`` a wire message, or a list of
them as one batch frame).

Writing never blocks the session's handler: commands go into a bounded queue that a
writer task sends, so a ``tell`` to a session (the Scheduler's starts, a supervisor's
stops) waits at most for the handler to queue them, whatever the node does. A node that
stops reading fails its link instead of stalling its senders (overflow policy *fail*):
when a frame is not taken within :data:`WRITE_TIMEOUT`, or :data:`SEND_QUEUE` frames
wait, the link is closed; the node reconnects, and its hello is reconciled as after any
disconnection (an assigned instance missing from it is started again, a stop not yet
confirmed is sent again), so no command is lost for good.

Reading is paced by what the node's messages cost: the statuses of a link that are on
their way to the deployments are counted, and the link is read no further while too
many are (``window.py``); and a node asking for pieces of an upload is answered at most
:data:`UPLOADS_QUEUED` pieces ahead of what it has taken. Either way only that link
waits, and its node's own sends wait in its socket.

Identity: the node id is the client certificate's CN. A node holding the shared seed
certificate (CN ``node-client``) may claim any id, with a warning in the log; a
per-node certificate may only speak for its own id.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import trio

from symphony.actors import ActorRef, ActorStopped, InlineActor
from symphony.wire import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_POLICY_VIOLATION,
    UPLOAD_CHUNK,
    ConnectionClosed,
    EncodeError,
    Error,
    FrameTooLarge,
    Heartbeat,
    Hello,
    HelloRejected,
    InstanceSecrets,
    InstanceStatus,
    LogChunk,
    LogCredit,
    LogRequest,
    Message,
    NodeConnection,
    OpenStream,
    ProtocolError,
    StartInstance,
    StatusBatch,
    UploadData,
    UploadRead,
    answer_hello,
    receive_hello,
)
from symphony.wire.states import InstanceState
from symphony.wire.version import (
    LOG_TIMES_PROTOCOL_VERSION,
    RELAY_PROTOCOL_VERSION,
    SECRETS_PROTOCOL_VERSION,
)

from ..uploads import UploadStore
from .beats import HeartbeatInbox
from .hellocheck import HelloCheck, check_identity, version_refusal
from .model import (
    CloseLogStream,
    CloseSession,
    LinkClosed,
    LogSink,
    NodeHeartbeat,
    NodeStatuses,
    OpenLogStream,
    RegisterNode,
    SessionEnded,
)
from .window import StatusWindow

if TYPE_CHECKING:
    from ..relay import RelayHub

log = logging.getLogger("symphony.conductor.nodes")

#: Refused starts waiting to be reported as failed (see ``NodeSession._refuse``).
_REFUSED_BUFFER = 256
#: Frames (a command or a batch) waiting to be written; past it the link has failed.
#: Generous: senders batch their commands, and a legitimate burst (every deployment
#: answering one hello) must never fail a link, or the node would reconnect forever.
SEND_QUEUE = 4096
#: Seconds a node may take to accept one frame before its link is considered failed.
WRITE_TIMEOUT = 10.0
#: A link's first error reports are all logged; after them, one in ERRORS_SAMPLED.
ERRORS_LOGGED = 10
ERRORS_SAMPLED = 1000
#: Answers to a node's upload reads (up to 512 KiB each) queued at once, at most.
UPLOADS_QUEUED = 4
#: Commands written together, at most, when several wait: one frame, one TLS record and
#: one write instead of one each (a burst of 100 creates is 100 starts to one node).
SEND_BATCH = 64


def for_old_node(message: Any) -> Any:
    """``message`` as a node older than protocol 4 may read it: without
    ``StartInstance.gpus`` (such a node has no devices to give; ``gpu`` is a plain count
    there and the job runs as it always did)."""
    if isinstance(message, StartInstance) and message.gpus is not None:
        return dataclasses.replace(message, gpus=None)
    if isinstance(message, list):
        return [for_old_node(item) for item in message]
    return message


class NodeSession(InlineActor):
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

    def _start_writer(self) -> None:
        outgoing, self._outgoing_out = self._outgoing_out, None
        if outgoing is not None and not self.stopped and self.nursery is not None:
            self.nursery.start_soon(self._write, outgoing)

    def _queue(self, message: Message | list[Message]) -> None:
        """Queue a frame for the writer (started with the first one, once accepted)."""
        if self._outgoing is None:
            self._outgoing, self._outgoing_out = trio.open_memory_channel[Message | list[Message]](
                SEND_QUEUE
            )
            if self.accepted:
                self._start_writer()
        try:
            self._outgoing.send_nowait(message)
        except trio.WouldBlock:
            self._fail_link(f"{SEND_QUEUE} frames wait to be written: the node does not read")

    async def _write(self, outgoing: trio.MemoryReceiveChannel[Message | list[Message]]) -> None:
        """Background: write queued commands in order (started once the node was accepted);
        those that wait together go in one frame (:meth:`_gather`)."""
        waiting: Message | list[Message] | None = None
        while True:
            if waiting is None:
                try:
                    waiting = await outgoing.receive()
                except trio.EndOfChannel:
                    return
            frame, waiting = self._gather(waiting, outgoing)
            with trio.move_on_after(WRITE_TIMEOUT) as writing:
                await self._send(frame)
            if isinstance(frame, UploadData):
                self._uploads_queued -= 1
                if self._upload_sent is not None:
                    self._upload_sent.set()
            if writing.cancelled_caught:
                self._fail_link(f"the node took no data for {WRITE_TIMEOUT:g} s")
                return

    def _gather(
        self,
        first: Message | list[Message],
        outgoing: trio.MemoryReceiveChannel[Message | list[Message]],
    ) -> tuple[Message | list[Message], Message | list[Message] | None]:
        """``first`` and the commands queued behind it (up to :data:`SEND_BATCH`), as one
        frame, and what was taken but must go in a frame of its own. An upload's data
        always goes alone: its chunks are large, a batch of them could pass the frame
        size limit."""
        if isinstance(first, UploadData):
            return first, None
        batch = list(first) if isinstance(first, list) else [first]
        while len(batch) < SEND_BATCH:
            try:
                queued = outgoing.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                break
            if isinstance(queued, UploadData):
                return (batch if len(batch) != 1 else batch[0]), queued
            batch.extend(queued if isinstance(queued, list) else (queued,))
        return (batch if len(batch) != 1 else batch[0]), None

    def _fail_link(self, reason: str) -> None:
        log.warning("node %r: closing its link: %s; it will reconnect", self.node_id, reason)
        self._close(CLOSE_GOING_AWAY, reason)

    async def _send(self, message: Message | list[Message]) -> None:
        if self.protocol_version < SECRETS_PROTOCOL_VERSION:
            # Placement keeps jobs with secrets off older nodes; should one slip
            # through, it fails here rather than reach a node that would drop or log it.
            batch = message if isinstance(message, list) else [message]
            kept = [m for m in batch if not _carries_secrets(m)]
            for refused in (m for m in batch if _carries_secrets(m)):
                self._refuse(refused, ValueError("the node is too old to receive secrets"))
            if not kept:
                return
            message = kept if isinstance(message, list) else kept[0]
        try:
            await self.conn.send(message)
        except ConnectionClosed as closed:
            self._close(closed.code, f"link closed while sending: {closed}")
        except (EncodeError, FrameTooLarge) as error:
            # Nothing was sent. One bad message (say, a spec string with a lone
            # surrogate) fails only itself: a batch is retried one message at a time.
            if isinstance(message, list) and len(message) > 1:
                for one in message:
                    await self._send(one)
            else:
                self._refuse(message[0] if isinstance(message, list) else message, error)

    def _refuse(self, message: Message, error: Exception) -> None:
        """Log a message that could not be sent; a refused start becomes a failed instance,
        a refused log request ends at once (its reader is not left waiting)."""
        log.error("node %r: not sending %s: %s", self.node_id, type(message).__name__, error)
        if isinstance(message, LogRequest):
            sink = self._log_sinks.pop(message.request_id, None)
            if sink is not None:
                reason = f"the conductor could not send the log request: {error}"[:4096]
                sink(LogChunk(request_id=message.request_id, eof=True, reason=reason))
        if not isinstance(message, StartInstance):
            return
        failed = InstanceStatus(
            instance_id=message.instance_id,
            deployment_id=message.deployment_id,
            state=InstanceState.FAILED,
            reason=f"the conductor could not send this instance to its node: {error}"[:4096],
            at=time.time(),
            final=True,
        )
        if self._refused is None and self.nursery is not None:
            self._refused, refused = trio.open_memory_channel[InstanceStatus](_REFUSED_BUFFER)
            self.nursery.start_soon(self._report_refused, refused)
        if self._refused is None:  # not serving a link (never, but tell why)
            log.warning("node %r: not reporting %s", self.node_id, message.instance_id)
            return
        try:
            self._refused.send_nowait(failed)
        except trio.WouldBlock:
            # Overflow policy: drop (the log line above stays); the instance then waits
            # in 'assigned' until the node's next hello sends it again.
            log.warning(
                "node %r: too many refused starts; not reporting %s",
                self.node_id,
                message.instance_id,
            )

    async def _report_refused(self, refused: trio.MemoryReceiveChannel[InstanceStatus]) -> None:
        # The handler must not block on the registry (the scheduler -> session -> registry
        # -> scheduler sends would form a cycle): this task forwards, as the reader does.
        async for failed in refused:
            await self.registry.tell(NodeStatuses(self.node_id, self.ref, (failed,)))

    def _close(self, code: int, reason: str) -> None:
        if not self.stopped:  # the first reason is the one the link closes with
            self.close_code, self.close_reason = code, reason
        self.stop()

    async def read(self) -> None:
        """Read the link until it closes or this session stops (run by the link's task,
        in the link's nursery: a stop cancels that)."""
        if self.stopped:
            return
        self._reading = True
        try:
            while True:
                received = await self.conn.receive()
                for msg in received if isinstance(received, list) else (received,):
                    await self._route(msg)
        except ProtocolError as error:
            log.warning("node %r: protocol error, closing its link: %s", self.node_id, error)
            self._close(1002, str(error))
        except ConnectionClosed as closed:
            self._close(closed.code, f"link closed by node: {closed}")
        finally:
            self._reading = False

    async def _route(self, msg: Message) -> None:
        if isinstance(msg, Heartbeat):
            if self.beats is not None:
                self.beats.put(NodeHeartbeat(self.node_id, self.ref, msg))
            else:
                await self.registry.tell(NodeHeartbeat(self.node_id, self.ref, msg))
        elif isinstance(msg, StatusBatch):
            await self._report(msg.updates)
        elif isinstance(msg, InstanceStatus):
            await self._report((msg,))
        elif isinstance(msg, LogChunk):
            sink = self._log_sinks.get(msg.request_id)
            if sink is not None:
                sink(msg)
                if msg.eof:
                    self._log_sinks.pop(msg.request_id, None)
        elif isinstance(msg, UploadRead):
            # A node has one read in flight per download; one that sends reads without
            # taking the answers waits here (its own link only) instead of making the
            # Conductor hold a 512 KiB answer for each.
            while self._uploads_queued >= UPLOADS_QUEUED:
                self._upload_sent = trio.Event()
                await self._upload_sent.wait()
            self._answer_upload_read(msg)
        elif isinstance(msg, Error):
            self._report_error(msg)
        elif isinstance(msg, Hello):
            raise ProtocolError("a second hello on an established link")
        else:
            raise ProtocolError(f"a node may not send {type(msg).__name__}")

    async def _report(self, updates: tuple[InstanceStatus, ...]) -> None:
        """Pass statuses on to the registry, waiting while too many of this link's are
        on their way (see ``window.py``: a flood stalls its own link, nothing else)."""
        if self._window is None:
            self._window = StatusWindow()
        await self._window.room()
        self._window.sent(len(updates))
        await self.registry.tell(NodeStatuses(self.node_id, self.ref, updates, self._window))

    def _report_error(self, msg: Error) -> None:
        """Log a node's error report: the first few of a link, then one in
        :data:`ERRORS_SAMPLED` (a node sending them without pause cannot fill the log)."""
        self._errors += 1
        if self._errors <= ERRORS_LOGGED:
            log.warning("node %r reports an error: %s", self.node_id, msg.reason)
        elif self._errors % ERRORS_SAMPLED == 0:
            log.warning(
                "node %r reports an error (%d on this link, one in %d logged): %s",
                self.node_id,
                self._errors,
                ERRORS_SAMPLED,
                msg.reason,
            )

    def _answer_upload_read(self, msg: UploadRead) -> None:
        """One piece of an uploaded archive, queued like any command: a node has one read
        in flight per download, so control messages never wait behind more than one."""
        found = self.uploads.read(msg.sha256, msg.offset, UPLOAD_CHUNK) if self.uploads else None
        if found is None:
            reason = f"no upload {msg.sha256} on the conductor"
            answer = UploadData(request_id=msg.request_id, eof=True, reason=reason)
        else:
            data, size = found
            eof = msg.offset + len(data) >= size
            answer = UploadData(request_id=msg.request_id, data=data, eof=eof, size=size)
        self._uploads_queued += 1
        self._queue(answer)


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


def _carries_secrets(message: Message) -> bool:
    return isinstance(message, InstanceSecrets) or (
        isinstance(message, StartInstance) and message.secrets is not None
    )
