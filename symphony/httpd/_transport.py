"""One client socket as both the HTTP cycle and a WebSocket use it.

Reads and writes may happen in two tasks at once (an app streams a response while a
task of its own awaits ``receive()`` for the disconnect): Trio allows one reader and one
writer at a time, so writes are serialized here (a 100 Continue sent by the reader
must not meet the app's response), without a lock's checkpoint on the common path.
A socket that breaks is remembered, never raised to the app: later writes do nothing
and reads report the end, so the app learns of the disconnect through ``receive()``.
"""

from __future__ import annotations

import os

import trio

_GONE = (trio.BrokenResourceError, trio.ClosedResourceError)


class Transport:
    """A client's stream with serialized writes and a ``broken`` flag."""

    __slots__ = ("_done", "_read_size", "_writing", "broken", "stream")

    def __init__(self, stream: trio.SocketStream, read_size: int) -> None:
        self.stream = stream
        self.broken = False
        self._read_size = read_size
        self._writing = False
        self._done: trio.Event | None = None

    async def read(self) -> bytes:
        """The next bytes; ``b""`` at the end of the stream or when it broke."""
        if self.broken:
            return b""
        try:
            return await self.stream.receive_some(self._read_size)
        except _GONE:
            self.broken = True
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
        except OSError:  # reset, or closed: what read() reports as the end
            self.broken = True
            return b""

    async def write(self, data: bytes) -> None:
        """Send ``data`` whole (after any write in progress); nothing if the peer left."""
        while self._writing:
            if self._done is None:
                self._done = trio.Event()
            await self._done.wait()
        if self.broken:
            return
        self._writing = True
        try:
            # trio's send_all, without its layers for the common case: what the kernel
            # takes at once is written directly; the rest, if any, the trio way.
            await trio.lowlevel.checkpoint_if_cancelled()
            try:
                sent = os.write(self.stream.socket.fileno(), data)
            except BlockingIOError:
                sent = 0
            except OSError:  # reset, or closed: as send_all's broken stream
                self.broken = True
                return
            if sent < len(data):
                await self.stream.send_all(memoryview(data)[sent:])
            else:
                await trio.lowlevel.cancel_shielded_checkpoint()
        except _GONE:
            self.broken = True
        finally:
            self._writing = False
            if self._done is not None:
                self._done.set()
                self._done = None

    async def close(self) -> None:
        """Close the socket (at once: what was written is already with the kernel)."""
        await trio.aclose_forcefully(self.stream)
