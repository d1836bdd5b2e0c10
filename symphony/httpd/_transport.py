"""One client socket as both the HTTP cycle and a WebSocket use it.

Reads and writes may happen in two tasks at once (an app streams a response while a
task of its own awaits ``receive()`` for the disconnect): Trio allows one reader and one
writer at a time, so writes are serialized here (a 100 Continue sent by the reader
must not meet the app's response), without a lock's checkpoint on the common path.
A socket that breaks is remembered, never raised to the app: later writes do nothing
and reads report the end, so the app learns of the disconnect through ``receive()``.
A write cut short (a piece of it not out within ``write_timeout``: the client stopped
reading, or left without a word while it had not) breaks the socket too: part of it may
be out, the framing is lost. Such a socket is aborted there and then (a reset, what it
held in the kernel dropped), which also ends a read waiting on it in another task: a
client gone without a FIN or reset is otherwise never heard from again, and that read
would wait until the kernel stops retransmitting, minutes later.
A write cancelled (the app's scope: a step-down, a stop) is exact about how far it got:
cancelled before any byte of it went out, the stream is still at a boundary between two
messages or frames, and what the app sends next (a WebSocket's close) may follow; cancelled
once part of it is out, the socket is broken as above, so that nothing is written after
half a frame (it would be read as that frame's rest), but not reset: what went before
it stays for the client to read.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import struct

import trio

_GONE = (trio.BrokenResourceError, trio.ClosedResourceError)
#: A large write goes out in pieces, each given ``write_timeout``: a slow client that
#: reads is not cut off, one that stopped reading is.
WRITE_PIECE = 64 * 1024


class Transport:
    """A client's stream with serialized writes and a ``broken`` flag."""

    __slots__ = (
        "_done",
        "_read_size",
        "_writing",
        "broken",
        "stalled",
        "stream",
        "write_timeout",
    )

    def __init__(self, stream: trio.SocketStream, read_size: int, write_timeout: float) -> None:
        self.stream = stream
        self.broken = False
        #: The client took nothing in time: a write was cut short by ``write_timeout``
        #: (then the socket is aborted), or the kernel timed the connection out
        #: (``TCP_USER_TIMEOUT``, keepalive). Broken too.
        self.stalled = False
        self._read_size = read_size
        self.write_timeout = write_timeout
        self._writing = False
        self._done: trio.Event | None = None

    async def read(self) -> bytes:
        """The next bytes; ``b""`` at the end of the stream or when it broke."""
        if self.broken:
            return b""
        try:
            return await self.stream.receive_some(self._read_size)
        except _GONE as gone:
            self._break(gone.__cause__)
            return b""

    def read_now(self) -> bytes | None:
        """The bytes the kernel holds already, without waiting or a checkpoint; None
        when there are none yet (then :meth:`read` waits), ``b""`` as :meth:`read`.

        A kept-alive connection's next request is mostly there by the time its answer
        went out: this read spares the wait's cancel scope and trio's recv, which
        checks for cancellation, tries the socket and then yields to the scheduler.
        """
        if self.broken:
            return b""
        try:
            return os.read(self.stream.socket.fileno(), self._read_size)
        except BlockingIOError:
            return None
        except OSError as error:  # reset, or closed: what read() reports as the end
            self._break(error)
            return b""

    async def write(self, data: bytes) -> None:
        """Send ``data`` whole (after any write in progress); nothing if the peer left.
        Cancelled part-way, it breaks the socket (see the module)."""
        while self._writing:
            if self._done is None:
                self._done = trio.Event()
            await self._done.wait()
        if self.broken:
            return
        self._writing = True
        try:
            # trio's send_all, without its layers for the common case: what the kernel
            # takes at once is written directly; the rest, if any, by the socket's own
            # send, in pieces (_send_rest: it knows how much went out if cancelled).
            await trio.lowlevel.checkpoint_if_cancelled()
            try:
                sent = os.write(self.stream.socket.fileno(), data)
            except BlockingIOError:
                sent = 0
            except OSError as error:  # reset, or closed: as send_all's broken stream
                self._break(error)
                return
            if sent < len(data):
                await self._send_rest(memoryview(data), sent)
            else:
                await trio.lowlevel.cancel_shielded_checkpoint()
        except _GONE as gone:
            self._break(gone.__cause__)
        finally:
            self._writing = False
            if self._done is not None:
                self._done.set()
                self._done = None

    async def _send_rest(self, data: memoryview, sent: int) -> None:
        """``data`` from ``sent`` on: what the kernel did not take at once, in pieces,
        each within the timeout. trio's ``send_all`` cannot say how much it wrote before
        it was cancelled, the socket's ``send`` can (it is cancelled only while nothing
        of its call went out): a cancel once some of ``data`` is out breaks the socket."""
        sock = self.stream.socket
        try:
            with trio.CancelScope() as scope:
                while sent < len(data):
                    scope.deadline = trio.current_time() + self.write_timeout
                    end = min(sent + WRITE_PIECE, len(data))
                    while sent < end:
                        sent += await sock.send(data[sent:end])
        except OSError as error:  # reset, or closed: as send_all's broken stream
            self._break(error)
            return
        except BaseException:
            if sent:  # cut half-way (cancelled): nothing may follow it
                self.broken = True
            raise
        if scope.cancelled_caught:
            self.broken = self.stalled = True
            self._abort()

    def _break(self, cause: BaseException | None) -> None:
        """Remember the socket broke, and whether the kernel timed it out (stalled)."""
        self.broken = True
        if isinstance(cause, OSError) and cause.errno == errno.ETIMEDOUT:
            self.stalled = True

    def _abort(self) -> None:
        """Reset the connection now: its unsent bytes are dropped, a read waiting on it
        (another task's) ends with the stream closed."""
        sock = self.stream.socket
        with contextlib.suppress(OSError):  # closed already: nothing to reset
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()  # trio wakes a task waiting on it (ClosedResourceError)

    async def close(self) -> None:
        """Close the socket (at once: what was written is already with the kernel).

        What ``trio.aclose_forcefully(stream)`` does, without its cost: that runs the
        stream's ``aclose`` in a cancelled scope, so its checkpoint raises and catches
        a ``Cancelled``, about 0.12 ms of CPU per connection on a slow machine (a
        burst of 100 creates is 100 connections). The socket's own ``close`` wakes any
        task still waiting on it; the checkpoint stays, shielded, so this never raises.
        """
        self.stream.socket.close()
        await trio.lowlevel.cancel_shielded_checkpoint()
