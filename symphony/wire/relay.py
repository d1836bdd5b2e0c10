"""Relayed TCP streams: one TLS connection per stream, beside the node's control link.

The control link (one WebSocket per node) never carries relayed bytes. A relayed stream
(a ``visit``, a ``port-forward``, a tunnel between two nodes) is its own TLS connection
from the node to the Conductor's node port, with the node's own client certificate, so:

- control frames (hellos, heartbeats, start/stop) never wait behind relayed bytes;
- each stream has its own TCP flow control: a slow reader stalls only its own stream,
  and every hop holds at most one read buffer (:data:`CHUNK`) of it.

After the TLS handshake a relay connection starts with :data:`MAGIC` (where a control
link would send its HTTP upgrade), then one header frame; the Conductor answers one
:class:`RelayReply` frame, and from then on the connection carries the stream's bytes
both ways. A frame is a 4-byte big-endian length and a msgpack message (:mod:`.codec`).
Headers, node -> Conductor:

- :class:`RelayAccept`: "here is stream ``stream_id``" (the answer to
  :class:`~symphony.wire.messages.OpenStream`), or, with ``reason``, "I refuse it";
- :class:`RelayTunnel`: "my instance ``instance_id`` connects to ``name``: reach it".

Ends: when either side ends (EOF or error), the stream is closed both ways; a half-close
(``shutdown(SHUT_WR)``) is not relayed, it ends the stream.
"""

from __future__ import annotations

import contextlib
import ssl
import struct
from collections.abc import Callable
from typing import Annotated, Any

import trio

from .codec import decode, encode
from .errors import ProtocolError, TransportError
from .messages import Message, message
from .schema import MaxLen, MinLen

__all__ = [
    "CHUNK",
    "MAGIC",
    "PrefixedStream",
    "RelayAccept",
    "RelayRefused",
    "RelayReply",
    "RelayTunnel",
    "open_relay_stream",
    "read_frame",
    "splice",
    "write_frame",
]

#: What a relay connection sends first, instead of an HTTP upgrade.
MAGIC = b"SYMPHONY-RELAY/1\n"
#: A header frame is small (ids and a reason): a cap keeps a peer from making us buffer.
MAX_HEADER = 16 * 1024
#: Bytes read at once per direction of a stream: big enough to amortize TLS records and
#: Python's per-call cost, small enough that a stream holds little memory per hop.
CHUNK = 256 * 1024

Id = Annotated[str, MinLen(1), MaxLen(253)]
Reason = Annotated[str, MaxLen(4096)]


class RelayRefused(TransportError):
    """The other side refused a relayed stream; the message says why."""


@message("relay_accept")
class RelayAccept(Message):
    """Node -> Conductor: this connection is stream ``stream_id``; with ``reason``, the
    node refuses to open it (the port is not one its experiments bind or expose...)."""

    stream_id: Id
    reason: Reason | None = None


@message("relay_tunnel")
class RelayTunnel(Message):
    """Node -> Conductor: instance ``instance_id`` (an experiment's process on this node)
    opened a connection to ``name``, which a process on another node binds."""

    instance_id: Id
    name: Annotated[str, MinLen(1), MaxLen(63)]


@message("relay_reply")
class RelayReply(Message):
    """Conductor -> node: the stream is open (``reason`` None) or refused (why)."""

    reason: Reason | None = None


async def write_frame(stream: trio.abc.SendStream, msg: Message) -> None:
    """Send one length-prefixed frame."""
    data = encode(msg)
    await stream.send_all(struct.pack(">I", len(data)) + data)


async def _exactly(stream: trio.abc.ReceiveStream, size: int) -> bytes:
    data = bytearray()
    while len(data) < size:
        got = await stream.receive_some(size - len(data))
        if not got:
            raise ProtocolError(f"relay connection ended after {len(data)} of {size} bytes")
        data += got
    return bytes(data)


async def read_frame(stream: trio.abc.ReceiveStream) -> Message:
    """Read one length-prefixed frame (at most :data:`MAX_HEADER` bytes) and decode it."""
    (size,) = struct.unpack(">I", await _exactly(stream, 4))
    if size > MAX_HEADER:
        raise ProtocolError(f"relay header of {size} bytes is over {MAX_HEADER}")
    found = decode(await _exactly(stream, size), max_frame_size=MAX_HEADER)
    if isinstance(found, list):
        raise ProtocolError("a relay header is one message, not a batch")
    return found


class PrefixedStream(trio.abc.Stream):
    """A stream whose first bytes were read already (to tell a relay connection from a
    control link): they are given back first, then the rest of ``inner``."""

    def __init__(self, inner: trio.abc.Stream, prefix: bytes) -> None:
        self.inner = inner
        self._prefix = prefix

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        if self._prefix:
            size = len(self._prefix) if max_bytes is None else max_bytes
            data, self._prefix = self._prefix[:size], self._prefix[size:]
            return data
        return await self.inner.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def aclose(self) -> None:
        await self.inner.aclose()

    def __getattr__(self, name: str) -> Any:
        # getpeercert and the like, for code that inspects the TLS stream.
        return getattr(self.inner, name)


async def open_relay_stream(
    host: str,
    port: int,
    ssl_context: ssl.SSLContext,
    header: RelayAccept | RelayTunnel,
    *,
    server_hostname: str | None = None,
    timeout: float = 10.0,
) -> trio.SSLStream[trio.SocketStream]:
    """Connect to the Conductor's node port, send ``header`` and return the open stream.

    Raises :class:`RelayRefused` when the Conductor refuses it, and
    :class:`TransportError` when it cannot be reached within ``timeout``. A refusal the
    node sends itself (``RelayAccept.reason``) returns the stream too: close it.
    """
    where = f"{host}:{port}"
    with trio.move_on_after(timeout) as scope:
        try:
            tcp = await trio.open_tcp_stream(host, port)
        except OSError as exc:
            raise TransportError(f"cannot reach the conductor at {where}: {exc}") from None
        stream = trio.SSLStream(tcp, ssl_context, server_hostname=server_hostname or host)
        try:
            await stream.do_handshake()
            await stream.send_all(MAGIC)
            await write_frame(stream, header)
            reply = await read_frame(stream)
        except (trio.BrokenResourceError, ProtocolError) as exc:
            await trio.aclose_forcefully(stream)
            raise TransportError(f"relay connection to {where} failed: {exc}") from None
        except BaseException:
            await trio.aclose_forcefully(stream)
            raise
        if not isinstance(reply, RelayReply):
            await trio.aclose_forcefully(stream)
            raise TransportError(f"the conductor at {where} answered {type(reply).__name__}")
        if reply.reason is not None:
            await trio.aclose_forcefully(stream)
            raise RelayRefused(reply.reason)
        return stream
    assert scope.cancelled_caught
    raise TransportError(f"relay connection to {where} not open within {timeout:g} s")


Counter = Callable[[int], None]
#: What a stream whose other end went away raises.
_GONE = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


async def _pump(src: trio.abc.ReceiveStream, dst: trio.abc.SendStream, count: Counter) -> None:
    while True:
        data = await src.receive_some(CHUNK)
        if not data:
            return
        await dst.send_all(data)
        count(len(data))


async def splice(
    a: trio.abc.Stream,
    b: trio.abc.Stream,
    *,
    a_to_b: Counter = lambda n: None,
    b_to_a: Counter = lambda n: None,
) -> None:
    """Copy bytes both ways between ``a`` and ``b`` until either ends or fails, then
    close both. Each direction holds at most one :data:`CHUNK`: a reader that stops
    reading stops its writer through TCP's own flow control, and nothing else.
    ``a_to_b``/``b_to_a`` are told the size of every piece copied."""
    try:
        async with trio.open_nursery() as nursery:

            async def one(src: trio.abc.Stream, dst: trio.abc.Stream, count: Counter) -> None:
                # The other end went away: the stream is over either way.
                with contextlib.suppress(*_GONE):
                    await _pump(src, dst, count)
                nursery.cancel_scope.cancel()

            nursery.start_soon(one, a, b, a_to_b)
            nursery.start_soon(one, b, a, b_to_a)
    finally:
        # Shielded: when the splice ends by cancellation, the first close's checkpoint
        # would raise the outer Cancelled again and skip the second close, leaving that
        # socket to the garbage collector (a relayed stream nobody read, at shutdown).
        with trio.CancelScope(shield=True):
            await trio.aclose_forcefully(a)
            await trio.aclose_forcefully(b)
