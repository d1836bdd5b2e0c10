"""How a NodeSession reads its node's link and routes what comes (a mixin of it).

The link's own task reads it (:func:`~.session.run_session`): no reader task or message
channel in between. The reading validates nothing itself: :mod:`symphony.wire` already
turned every frame into a typed message or refused it. The session routes them:
heartbeats to the registry's inbox (in batches, see ``beats.py``), statuses to the
registry, log chunks to whoever asked for them, a node's reads of an upload answered
from the upload store, its error reports logged (sampled past the first
:data:`ERRORS_LOGGED`).

Reading is paced by what the node's messages cost: the statuses of a link that are on
their way to the deployments are counted, and the link is read no further while too
many are (``window.py``); and a node asking for pieces of an upload is answered at most
:data:`UPLOADS_QUEUED` pieces ahead of what it has taken. Either way only that link
waits, and its node's own sends wait in its socket.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import trio

from symphony.wire import (
    UPLOAD_CHUNK,
    ConnectionClosed,
    Error,
    Heartbeat,
    Hello,
    InstanceStatus,
    LogChunk,
    Message,
    ProtocolError,
    StatusBatch,
    UploadData,
    UploadRead,
)

from .model import NodeHeartbeat, NodeStatuses
from .window import StatusWindow

if TYPE_CHECKING:
    from symphony.actors import ActorRef
    from symphony.wire import NodeConnection

    from ..uploads import UploadStore
    from .beats import HeartbeatInbox
    from .model import LogSink

log = logging.getLogger("symphony.conductor.nodes")

#: A link's first error reports are all logged; after them, one in ERRORS_SAMPLED.
ERRORS_LOGGED = 10
ERRORS_SAMPLED = 1000
#: Answers to a node's upload reads (up to 512 KiB each) queued at once, at most.
UPLOADS_QUEUED = 4


class SessionReader:
    """The reading side of :class:`~.session.NodeSession` (see the module docstring)."""

    if TYPE_CHECKING:  # provided by NodeSession
        conn: NodeConnection
        node_id: str
        registry: ActorRef
        uploads: UploadStore | None
        beats: HeartbeatInbox | None
        _log_sinks: dict[str, LogSink]
        _reading: bool
        _window: StatusWindow | None
        _errors: int
        _uploads_queued: int
        _upload_sent: trio.Event | None

        @property
        def ref(self) -> ActorRef: ...
        @property
        def stopped(self) -> bool: ...
        def _close(self, code: int, reason: str) -> None: ...
        def _queue(self, message: Message | list[Message]) -> None: ...

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
