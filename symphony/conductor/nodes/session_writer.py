"""How a NodeSession writes to its node's link (a mixin of it).

Writing never blocks the session's handler: commands go into a bounded queue that a
writer task sends, so a ``tell`` to a session (the Scheduler's starts, a supervisor's
stops) waits at most for the handler to queue them, whatever the node does. A node that
stops reading fails its link instead of stalling its senders (overflow policy *fail*):
when a frame is not taken within :data:`WRITE_TIMEOUT`, or :data:`SEND_QUEUE` frames
wait, the link is closed; the node reconnects, and its hello is reconciled as after any
disconnection (an assigned instance missing from it is started again, a stop not yet
confirmed is sent again), so no command is lost for good.

Commands that wait together leave in one frame (up to :data:`SEND_BATCH`); an upload's
data always goes alone. A message that cannot be sent (it does not encode, it is too
large, or it carries secrets for a node too old for them) fails only itself: a refused
start is reported as a failed instance, by a task of its own
(:meth:`SessionWriter._report_refused`), since the handler must not block on the
registry.

The writer and that reporter, and their queues, are made when first needed: most links
of a large fleet carry heartbeats and nothing else.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

import trio

from symphony.wire import (
    CLOSE_GOING_AWAY,
    ConnectionClosed,
    EncodeError,
    FrameTooLarge,
    InstanceSecrets,
    InstanceStatus,
    LogChunk,
    LogRequest,
    Message,
    StartInstance,
    UploadData,
)
from symphony.wire.states import InstanceState
from symphony.wire.version import SECRETS_PROTOCOL_VERSION

from .model import NodeStatuses

if TYPE_CHECKING:
    from symphony.actors import ActorRef
    from symphony.wire import NodeConnection

    from .model import LogSink

log = logging.getLogger("symphony.conductor.nodes")

#: Refused starts waiting to be reported as failed (see ``SessionWriter._refuse``).
_REFUSED_BUFFER = 256
#: Frames (a command or a batch) waiting to be written; past it the link has failed.
#: Generous: senders batch their commands, and a legitimate burst (every deployment
#: answering one hello) must never fail a link, or the node would reconnect forever.
SEND_QUEUE = 4096
#: Seconds a node may take to accept one frame before its link is considered failed.
WRITE_TIMEOUT = 10.0
#: Commands written together, at most, when several wait: one frame, one TLS record and
#: one write instead of one each (a burst of 100 creates is 100 starts to one node).
SEND_BATCH = 64


class SessionWriter:
    """The writing side of :class:`~.session.NodeSession` (see the module docstring)."""

    if TYPE_CHECKING:  # provided by NodeSession
        nursery: trio.Nursery | None
        conn: NodeConnection
        node_id: str
        registry: ActorRef
        accepted: bool
        protocol_version: int
        _log_sinks: dict[str, LogSink]
        _refused: trio.MemorySendChannel[InstanceStatus] | None
        _outgoing: trio.MemorySendChannel[Message | list[Message]] | None
        _outgoing_out: trio.MemoryReceiveChannel[Message | list[Message]] | None
        _uploads_queued: int
        _upload_sent: trio.Event | None

        @property
        def ref(self) -> ActorRef: ...
        @property
        def stopped(self) -> bool: ...
        def _close(self, code: int, reason: str) -> None: ...

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


def _carries_secrets(message: Message) -> bool:
    return isinstance(message, InstanceSecrets) or (
        isinstance(message, StartInstance) and message.secrets is not None
    )
