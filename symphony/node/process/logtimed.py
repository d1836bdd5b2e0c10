"""Reading a job's log with each line's arrival time: ``--since`` and ``--timestamps``.

A :class:`TimedLines` reads whole lines from a :class:`~.logcursor.LogCursor`, looks up
when each arrived in the file's index (:mod:`.logtimes`), keeps those at or after
``since`` and, with ``timestamps``, puts the time in front as ``kubectl logs
--timestamps`` and ``docker logs -t`` do (RFC 3339, UTC, nanoseconds)::

    2026-11-26T21:04:36.123456789Z step 12 loss 0.31

A line of unknown time (a log written before the node recorded times) is older than
any ``since``, and shows ``-`` in place of its time.

:func:`start` finds where such a read begins: the later of the first line at or after
``since`` (by binary search in the indexes, from the oldest file of the rotation on)
and the start of the last ``tail`` lines, so ``--since`` and ``--tail`` combine as in
kubectl: the last ``tail`` lines of those since.
"""

from __future__ import annotations

import os
import time

from .logcursor import LogCursor, chain
from .logtimes import TimesIndex, find_index

UNKNOWN = b"-"


def rfc3339(time_ns: int) -> str:
    """``2026-11-26T21:04:36.123456789Z`` for nanoseconds since the epoch.

    >>> rfc3339(1_700_000_000_000_000_001)
    '2023-11-14T22:13:20.000000001Z'
    """
    seconds, fraction = divmod(time_ns, 1_000_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{fraction:09d}Z"


class TimedLines:
    """Whole lines of a cursor, filtered by ``since_ns`` and stamped if ``timestamps``."""

    def __init__(
        self, cursor: LogCursor, *, since_ns: int | None = None, timestamps: bool = False
    ) -> None:
        self.cursor = cursor
        self.since_ns = since_ns
        self.timestamps = timestamps
        self._partial = b""
        self._partial_time: int | None = None
        self._ino = -1
        self._index: TimesIndex | None = None
        self._second = -1  # the last whole second formatted, and its text
        self._second_text = ""

    def read(self, limit: int) -> bytes | None:
        """The next lines (up to about ``limit`` bytes read), formatted; ``b""`` when
        what was read was filtered out or is an unfinished line, None when nothing new."""
        data = self.cursor.read(limit)
        if not data:
            return None
        ino, start = self.cursor.read_from
        index = self._index_of(ino)
        out: list[bytes] = []
        pos = 0
        if self._partial:  # a line begun in an earlier read: it has its time already
            newline = data.find(b"\n")
            if newline < 0 and len(self._partial) + len(data) < limit:
                self._partial += data
                return b""
            end = len(data) if newline < 0 else newline + 1
            self._emit(out, self._partial_time, self._partial + data[:end])
            self._partial, pos = b"", end
        while pos < len(data):
            at = index.time_at(start + pos) if index is not None else None
            newline = data.find(b"\n", pos)
            if newline < 0:
                self._partial, self._partial_time = data[pos:], at
                break
            self._emit(out, at, data[pos : newline + 1])
            pos = newline + 1
        return b"".join(out)

    def flush(self) -> bytes:
        """The last line if it has no newline (the end of a read that stops)."""
        out: list[bytes] = []
        if self._partial:
            self._emit(out, self._partial_time, self._partial + b"\n")
            self._partial = b""
        return b"".join(out)

    def close(self) -> None:
        self.cursor.close()
        if self._index is not None:
            self._index.close()
            self._index = None

    def _index_of(self, ino: int) -> TimesIndex | None:
        if ino != self._ino or self._index is None:
            if self._index is not None:
                self._index.close()
            # Not found yet is looked for again at the next read (the logger may be
            # between opening a new log and its index), found is kept for this file.
            self._ino, self._index = ino, find_index(self.cursor.path, ino)
        return self._index

    def _emit(self, out: list[bytes], at: int | None, line: bytes) -> None:
        if self.since_ns is not None and (at is None or at < self.since_ns):
            return
        if self.timestamps:
            out.append(self._stamp(at) + b" ")
        out.append(line)

    def _stamp(self, at: int | None) -> bytes:
        if at is None:
            return UNKNOWN
        seconds, fraction = divmod(at, 1_000_000_000)
        if seconds != self._second:
            self._second = seconds
            self._second_text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
        return f"{self._second_text}.{fraction:09d}Z".encode()


def start(anchor: LogCursor, tail: int, since_ns: int | None) -> LogCursor:
    """A cursor over the last ``tail`` lines before ``anchor``'s position that arrived
    at or after ``since_ns`` (all of them since then, if ``tail`` is larger), ending at
    ``anchor``'s position (see the module docstring)."""
    by_tail = LogCursor.before(anchor, anchor.offset, tail)
    if since_ns is None or anchor.fd is None or by_tail.fd is None:
        return by_tail
    names = chain(anchor.path)
    inodes = [_ino(name) for name in names]
    anchor_ino = os.fstat(anchor.fd).st_ino
    newest = inodes.index(anchor_ino) if anchor_ino in inodes else 0
    tail_ino = os.fstat(by_tail.fd).st_ino
    tail_rank = inodes.index(tail_ino) if tail_ino in inodes else len(names)
    for rank in range(len(names) - 1, newest - 1, -1):  # the oldest file first
        ino = inodes[rank]
        index = find_index(anchor.path, ino) if ino is not None else None
        if index is None:
            continue
        try:
            offset = index.first_at_or_after(since_ns)
        finally:
            index.close()
        if offset is None:
            continue
        if rank > tail_rank or (rank == tail_rank and offset <= by_tail.offset):
            return by_tail  # the tail starts later: it is all since
        by_tail.close()
        fd = anchor.fd if rank == newest else _open(names[rank])
        cursor = LogCursor(anchor.path, None if fd is None else os.dup(fd), offset)
        if fd is not None and fd != anchor.fd:
            os.close(fd)
        cursor.stop = (anchor_ino, anchor.offset)
        return cursor
    # Nothing arrived since then: an empty read that ends (or follows) at the anchor.
    by_tail.close()
    cursor = LogCursor(anchor.path, os.dup(anchor.fd), anchor.offset)
    cursor.stop = (anchor_ino, anchor.offset)
    return cursor


def _ino(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _open(path: str) -> int | None:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
