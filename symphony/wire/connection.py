"""A WebSocket that speaks typed messages: what both ends of the node link hold.

:class:`NodeConnection` (the conductor's view of one node) and
:class:`ConductorConnection` (a node's view of the conductor) are the same
:class:`WireConnection` with a different name for the peer's certificate CN.
They encode and decode with :mod:`symphony.wire.codec`, so ``receive()`` returns
validated messages or raises :class:`ProtocolError`; a closed socket raises our
:class:`ConnectionClosed`.

Sending blocks while the peer is not reading (TCP backpressure); wrap it in
``trio.fail_after`` if you need a bound. Closed from the task that reads it, a
connection reads the peer's answer to its close; closed from another task while
one reads, it closes the stream under the reader, which gets the
:class:`ConnectionClosed` (see :mod:`symphony.wire.websocket`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Protocol

import trio

from .admission import Slot
from .codec import DEFAULT_MAX_FRAME_SIZE, decode, encode
from .errors import ConnectionClosed, ProtocolError
from .messages import Message

__all__ = [
    "CLOSE_GOING_AWAY",
    "CLOSE_INTERNAL_ERROR",
    "CLOSE_NORMAL",
    "CLOSE_POLICY_VIOLATION",
    "CLOSE_PROTOCOL_ERROR",
    "ConductorConnection",
    "NodeConnection",
    "WireConnection",
]

#: How long a close waits for the peer's reply while we are being cancelled.
SHUTDOWN_CLOSE_TIMEOUT = 0.1

# WebSocket close codes (RFC 6455 section 7.4.1) used by this protocol.
CLOSE_NORMAL = 1000
CLOSE_GOING_AWAY = 1001  # shutting down; the node should reconnect
CLOSE_PROTOCOL_ERROR = 1002  # a frame failed to decode or validate
CLOSE_POLICY_VIOLATION = 1008  # e.g. a node speaking for another node id
CLOSE_TOO_BIG = 1009
CLOSE_INTERNAL_ERROR = 1011


class CloseCode(Protocol):
    """Why a WebSocket closed: its close code and reason."""

    @property
    def code(self) -> int: ...
    @property
    def reason(self) -> str | None: ...


class Transport(Protocol):
    """What a connection reads and writes: our own reader-less
    :class:`~symphony.wire.websocket.WebSocket`, in the server's role on the Conductor
    and the client's on a node. A closed one raises our :class:`ConnectionClosed`."""

    async def send_message(self, data: bytes) -> None: ...
    async def get_message(self) -> bytes | str: ...
    @property
    def closed(self) -> CloseCode | None: ...
    async def aclose(self, code: int = ..., reason: str | None = ...) -> None: ...


def _truncate(reason: str | None) -> str | None:
    # A close reason must fit a control frame: at most 123 bytes of UTF-8.
    if reason is None:
        return None
    return reason.encode()[:123].decode("utf-8", "ignore")


class WireConnection:
    """One established, authenticated link. Use :meth:`send`, :meth:`receive`, :meth:`close`.

    ``remote`` is ``"host:port"`` of the peer; ``peer_cn`` the Common Name of its
    verified certificate.
    """

    def __init__(
        self,
        ws: Transport,
        *,
        remote: str,
        peer_cn: str,
        max_frame_size: int = DEFAULT_MAX_FRAME_SIZE,
        close_timeout: float = 2.0,
    ) -> None:
        self._ws = ws
        self.remote = remote
        self.peer_cn = peer_cn
        self.max_frame_size = max_frame_size
        self.close_timeout = close_timeout

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.peer_cn} at {self.remote}>"

    async def send(self, msg: Message | Sequence[Message]) -> None:
        """Send one message, or a list of them as one batch frame.

        Raises :class:`ConnectionClosed` if the link is closed, and
        :class:`~symphony.wire.errors.FrameTooLarge` (nothing is sent) for a frame
        the peer would refuse.
        """
        await self._ws.send_message(encode(msg, max_frame_size=self.max_frame_size))

    async def receive(self) -> Message | list[Message]:
        """The next message (a list for a batch frame), decoded and validated.

        Raises :class:`ProtocolError` for a bad frame (close the connection with
        ``CLOSE_PROTOCOL_ERROR`` then) and :class:`ConnectionClosed` once the peer
        has closed and every earlier message has been received.
        """
        data = await self._ws.get_message()
        if isinstance(data, str):
            raise ProtocolError("received a text frame; this protocol uses binary frames only")
        return decode(data, max_frame_size=self.max_frame_size)

    @property
    def closed(self) -> ConnectionClosed | None:
        """``None`` while open, else why it closed (as the exception ``receive`` raises)."""
        reason = self._ws.closed
        return None if reason is None else ConnectionClosed(reason.code, reason.reason)

    async def close(self, code: int = CLOSE_NORMAL, reason: str | None = None) -> None:
        """Close with ``code``/``reason``, waiting at most ``close_timeout`` for the peer.

        Idempotent. Runs shielded, so it also completes (within the timeout) while
        the calling task is being cancelled, telling the peer why we left. When we are
        being cancelled (shutting down) our own reader is gone too, so the peer's close
        reply could never be read: send the close frame and wait only briefly.
        """
        timeout = self.close_timeout
        if trio.current_effective_deadline() == -math.inf:  # a cancellation is pending
            timeout = min(timeout, SHUTDOWN_CLOSE_TIMEOUT)
        with trio.CancelScope(deadline=trio.current_time() + timeout, shield=True):
            await self._ws.aclose(code, _truncate(reason))


class NodeConnection(WireConnection):
    """The conductor's side of one node's link; ``cert_node_id`` is the node's cert CN."""

    #: The link's turn at the endpoint's admission gate (see :mod:`.admission`), if any.
    admission: Slot | None = None

    def opened(self) -> None:
        """The opening is over (the hello was answered): let the next link open."""
        if self.admission is not None:
            self.admission.release()

    @property
    def cert_node_id(self) -> str:
        """The node id proven by the client certificate: trust this, not ``Hello.node_id``."""
        return self.peer_cn


class ConductorConnection(WireConnection):
    """A node's side of its link to the conductor; ``peer_cn`` is the server cert's CN."""
