"""Serving a log request on the node: the tail, then new lines, each follower bounded.

Every follower of the same file shares one reader (a :class:`LogHub`): it reads the file
once, cuts at line ends, and hands the same ``bytes`` to each follower's buffer. A
follower's buffer holds at most :data:`FOLLOWER_BUFFER` bytes; when its reader is slower
than the job (its window is spent, see :mod:`symphony.node.logwindow`), the oldest
chunks fall out and are counted, and the reader's next data starts with
``[symphony] N lines dropped``. So a follower that stops reading costs at most its
buffer (shared with the others: they all hold the same newest chunks), never blocks the
job (its logger writes the files regardless), the hub, or another follower.

The hub's reading is driven by its followers' own tasks: one of them holds the hub's
lock and reads; when it leaves, the next one takes over, and the hub goes away with its
last follower. A tail is read with its own cursor that stops exactly where the hub's
position was when the follower joined, so tail and live lines meet without a gap or a
repeat.

A request by time (``since_ns``, ``timestamps``: protocol 5) reads with a cursor of its
own instead (:mod:`.process.logtimed`): each line is looked up in the file's index of
arrival times, filtered and stamped for that reader alone. Its reading is paced by its
window: a reader that stops reading leaves the cursor where it is (holding no data),
and if the log rotates past it, it goes on with the oldest file left and says so.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Awaitable, Callable

import trio

from symphony.wire import LogChunk, LogRequest

from .process import logfiles, logtimed
from .process.logcursor import LogCursor

#: The tail of an instance without a log directory on this node (a follow waits for it).
NO_LOGS = (
    b"[symphony] no logs on this node: none were written, or the node deleted them"
    b" (node.log_retention_sec, node.orphan_logs_max_bytes)\n"
)

#: Bytes of new lines held per follower whose reader is behind (shared between followers).
FOLLOWER_BUFFER = 1024 * 1024
#: Bytes per log frame: small, so a control frame never waits behind a long one.
CHUNK_BYTES = 64 * 1024
#: How often a hub looks for new bytes when the file is quiet.
POLL_INTERVAL = 0.1

Send = Callable[[LogChunk], Awaitable[None]]


class Follower:
    """One follower's bounded buffer of whole-line chunks (see the module docstring)."""

    def __init__(self, limit: int = FOLLOWER_BUFFER) -> None:
        self.limit = limit
        self._chunks: deque[tuple[bytes, int]] = deque()
        self._size = 0
        self.dropped = 0  # lines dropped since the last take()
        self.skip = 0  # bytes of the next chunk this follower already has (from its tail)
        self._ready = trio.Event()

    def push(self, data: bytes, lines: int) -> None:
        """Add a chunk; drop the oldest while over the limit (never blocks)."""
        if self.skip:
            data, self.skip = data[self.skip :], max(0, self.skip - len(data))
            if not data:
                return
        self._chunks.append((data, lines))
        self._size += len(data)
        while self._size > self.limit and len(self._chunks) > 1:
            old, count = self._chunks.popleft()
            self._size -= len(old)
            self.dropped += count
        self._ready.set()

    def note(self, text: str) -> None:
        self.push(f"[symphony] {text}\n".encode(), 1)

    async def take(self, limit: int) -> bytes:
        """Wait for data; return up to ``limit`` bytes (at least one chunk), led by a
        ``[symphony] N lines dropped`` line if any were dropped since the last take."""
        while not self._chunks:
            self._ready = trio.Event()
            await self._ready.wait()
        parts = []
        if self.dropped:
            parts.append(f"[symphony] {self.dropped} lines dropped: reading too slowly\n".encode())
            self.dropped = 0
        size = 0
        while self._chunks and (not size or size + len(self._chunks[0][0]) <= limit):
            data, _ = self._chunks.popleft()
            self._size -= len(data)
            size += len(data)
            parts.append(data)
        return b"".join(parts)


class LogHub:
    """One shared reader of a followed log file."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.cursor = LogCursor.at_end(path)
        self.partial = b""  # the start of a line not yet complete
        self.followers: set[Follower] = set()
        self.lock = trio.Lock()

    def join(self, follower: Follower, tail: int) -> LogCursor:
        """Add ``follower``; return a cursor for its tail, ending where live lines begin.

        The tail includes a last line still being written (a job that printed a prompt,
        or died mid-line, must not look silent); the follower then skips those bytes at
        the start of the hub's next chunk, which completes that line.
        """
        self.followers.add(follower)
        follower.skip = len(self.partial)
        return LogCursor.before(self.cursor, self.cursor.offset, tail)

    async def drive(self) -> None:
        """Read and fan out while this task holds the lock (see the module docstring)."""
        async with self.lock:
            while True:
                data = self.cursor.read(CHUNK_BYTES)
                if self.cursor.skipped_files:
                    for follower in self.followers:
                        follower.note("the log rotated faster than it was read: lines lost")
                    self.cursor.skipped_files = 0
                if not data:
                    await trio.sleep(POLL_INTERVAL)
                    continue
                data = self.partial + data if self.partial else data
                cut = data.rfind(b"\n") + 1
                if cut == 0 and len(data) >= CHUNK_BYTES:
                    cut = len(data)  # output without newlines: pass it on anyway
                whole, self.partial = data[:cut], data[cut:]
                if whole:
                    lines = whole.count(b"\n")
                    for follower in self.followers:
                        follower.push(whole, lines)
                await trio.lowlevel.checkpoint()


class LogServer:
    """Answers the link's log requests from this node's log files."""

    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir
        self._hubs: dict[str, LogHub] = {}

    async def serve(self, request: LogRequest, send: Send) -> None:
        """Send the tail (and with ``follow``, new lines) of a stream; end with ``eof``."""
        rid = request.request_id
        try:
            path = logfiles.log_path(self.state_dir, request.instance_id, request.stream)
        except ValueError as error:  # a hostile id fails this request only
            await send(LogChunk(request_id=rid, eof=True, reason=str(error)))
            return
        if request.since_ns is not None or request.timestamps:
            await _serve_timed(request, path, send)
            return
        if not request.follow and not os.path.isdir(os.path.dirname(path)):
            await send(LogChunk(request_id=rid, data=NO_LOGS))
            await send(LogChunk(request_id=rid, eof=True))
            return
        if not request.follow:
            cursor = LogCursor.tail(path, request.tail)
            try:
                await _send_cursor(rid, cursor, send)
            finally:
                cursor.close()
            await send(LogChunk(request_id=rid, eof=True))
            return
        await self._follow(rid, path, request.tail, send)

    async def _follow(self, rid: str, path: str, tail: int, send: Send) -> None:
        hub = self._hubs.get(path)
        if hub is None:
            hub = self._hubs[path] = LogHub(path)
        follower = Follower()
        cursor = hub.join(follower, tail)
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(hub.drive)
                await _send_cursor(rid, cursor, send)
                cursor.close()
                while True:
                    data = await follower.take(CHUNK_BYTES)
                    await send(LogChunk(request_id=rid, data=data))
        finally:
            cursor.close()
            hub.followers.discard(follower)
            if not hub.followers and self._hubs.get(path) is hub:
                del self._hubs[path]
                hub.cursor.close()


async def _send_cursor(rid: str, cursor: LogCursor, send: Send) -> None:
    """Send what ``cursor`` reads until it has nothing more, in frames of CHUNK_BYTES."""
    while data := cursor.read(CHUNK_BYTES):
        await send(LogChunk(request_id=rid, data=data))


async def _serve_timed(request: LogRequest, path: str, send: Send) -> None:
    """The tail (and with ``follow``, new lines), by time: see the module docstring."""
    rid = request.request_id
    anchor = LogCursor.at_end(path)
    try:
        cursor = logtimed.start(anchor, request.tail, request.since_ns)
    finally:
        anchor.close()
    lines = logtimed.TimedLines(cursor, since_ns=request.since_ns, timestamps=request.timestamps)
    try:
        if request.follow:
            cursor.stop = None  # past the tail, on into what the job writes next
        while True:
            data = lines.read(CHUNK_BYTES)
            if cursor.skipped_files:
                cursor.skipped_files = 0
                await send(LogChunk(request_id=rid, data=_NOTE_ROTATED))
            if data is None:
                if not request.follow:
                    break
                await trio.sleep(POLL_INTERVAL)
                continue
            if data:
                await send(LogChunk(request_id=rid, data=data))
            await trio.lowlevel.checkpoint()
        rest = lines.flush()
        if rest:
            await send(LogChunk(request_id=rid, data=rest))
    finally:
        lines.close()
    await send(LogChunk(request_id=rid, eof=True))


_NOTE_ROTATED = b"[symphony] the log rotated faster than it was read: lines lost\n"
