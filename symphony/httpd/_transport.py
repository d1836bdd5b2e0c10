"""One client socket as both the HTTP cycle and a WebSocket use it.

Reads and writes may happen in two tasks at once (an app streams a response while a
task of its own awaits ``receive()`` for the disconnect): Trio allows one reader and one
writer at a time, so writes are serialized here (a 100 Continue sent by the reader
must not meet the app's response), without a lock's checkpoint on the common path.
A socket that breaks is remembered, never raised to the app: later writes do nothing
and reads report the end, so the app learns of the disconnect through ``receive()``.
"""

from __future__ import annotations

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
            await self.stream.send_all(data)
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
