"""When each line of a job's log arrived: a small index beside every log file.

The job's logger (``joblogger``) notes the wall-clock time of each read from the job's
pipe in ``<stream>.times`` beside ``<stream>.log``, and rotates it with the log
(``stdout.times.1`` describes ``stdout.log.1``, ...). The log files stay the job's bytes,
unchanged; only readers that ask for times (``logs --since``, ``--timestamps``) open the
index.

Format (little-endian): a 16-byte header, ``b"SYMT"``, a format version (u32) and the
inode of the log file the index describes (u64), so a reader that holds a log file finds
its index whatever renames happened between; then 16-byte records ``(offset, time_ns)``:
the lines that start at ``offset`` or later (until the next record) arrived at
``time_ns`` (nanoseconds since the epoch, never decreasing) or at most :data:`RESOLUTION`
later. A record is written **before** the bytes it describes, so a reader that sees a
line also finds its record.

Bounds:

- **Memory:** the logger keeps the last record only; a reader keeps one record and its
  neighbour and finds the others by binary search in the file (``pread``), so neither
  grows with the log.
- **Disk:** at most one record per line and per :data:`RESOLUTION` of time, and an index
  never grows past :func:`index_cap` (a quarter of the log's ``max_bytes``): the logger
  rotates the log early when its index is full. With rotation, the disk use of a stream
  stays under ``(backups + 1) * 1.25 * max_bytes``.
- **Cost:** one ``write`` of 16 bytes per read of the pipe that starts a line, at most
  one per millisecond.

Lines before the first record of a file (a file written before this index existed, or
while the index could not be written) have no known time: readers treat them as older
than any ``since``.
"""

from __future__ import annotations

import contextlib
import os
import struct

MAGIC = b"SYMT"
VERSION = 1
HEADER = struct.Struct("<4sIQ")
RECORD = struct.Struct("<Qq")
#: Reads closer together than this share one record (the earlier one's time).
RESOLUTION = 1_000_000  # 1 ms, in nanoseconds


def times_path(log_path: str) -> str:
    """The index of a live log file: ``stdout.log`` -> ``stdout.times``."""
    base = log_path[: -len(".log")] if log_path.endswith(".log") else log_path
    return base + ".times"


def index_cap(max_bytes: int) -> int:
    """The most bytes one index may hold before its log is rotated (see the module)."""
    return HEADER.size + max(64, max_bytes // 4 // RECORD.size) * RECORD.size


class TimesWriter:
    """The logger's side: appends records for one log file (see the module docstring).

    Never raises: a logger that died would take the job with it. An index that cannot
    be written leaves the lines it would have described without a time.
    """

    def __init__(self, path: str, log_ino: int, *, cap: int) -> None:
        self.path = path
        self.cap = cap
        self.fd: int | None = None
        self.size = 0
        self.last_time = 0
        self._last_write = -RESOLUTION  # monotonic time of the last record (ns)
        try:
            self.fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            self.size = os.fstat(self.fd).st_size
            if self.size >= HEADER.size and _header_ino(self.fd) == log_ino:
                self.size -= (self.size - HEADER.size) % RECORD.size  # a torn last record
                os.ftruncate(self.fd, self.size)
                if self.size > HEADER.size:
                    self.last_time = RECORD.unpack(os.pread(self.fd, 16, self.size - 16))[1]
            else:  # new, or describing another (older) file: start over
                os.ftruncate(self.fd, 0)
                os.write(self.fd, HEADER.pack(MAGIC, VERSION, log_ino))
                self.size = HEADER.size
        except OSError:
            self.close()

    @property
    def full(self) -> bool:
        return self.size + RECORD.size > self.cap

    def note(self, offset: int, now_ns: int, monotonic_ns: int, *, force: bool = False) -> None:
        """Record that the lines from ``offset`` arrived at ``now_ns`` (unless a record was
        written less than :data:`RESOLUTION` ago and ``force`` is false)."""
        if self.fd is None or self.full:
            return
        if not force and monotonic_ns - self._last_write < RESOLUTION:
            return
        self.last_time = max(self.last_time, now_ns)  # a clock stepped back: keep order
        try:
            self.size += os.write(self.fd, RECORD.pack(offset, self.last_time))
        except OSError:
            return
        self._last_write = monotonic_ns

    def close(self) -> None:
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None


def _header_ino(fd: int) -> int | None:
    magic, version, ino = HEADER.unpack(os.pread(fd, HEADER.size, 0).ljust(HEADER.size, b"\0"))
    return ino if magic == MAGIC and version == VERSION else None


def find_index(log_path: str, log_ino: int) -> TimesIndex | None:
    """The index of the log file with inode ``log_ino`` among the rotated indexes of
    ``log_path`` (the live log's path), or None if it has none."""
    base = times_path(log_path)
    names = [base] + [f"{base}.{i}" for i in range(1, 101)]  # log_backups is at most 100
    for name in names:
        try:
            fd = os.open(name, os.O_RDONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            if name != base:
                return None  # the chain ends here
            continue
        except OSError:
            continue
        try:
            if _header_ino(fd) == log_ino:
                return TimesIndex(fd)
        except OSError:
            pass
        os.close(fd)
    return None


class TimesIndex:
    """A reader's view of one index: the arrival time of a byte offset of its log."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        # Cache: offsets lo <= x < hi share one record's time (hi -1: up to the end).
        self._lo = self._hi = self._n = 0
        self._time: int | None = None
        self._valid = False

    def count(self) -> int:
        return max(0, (os.fstat(self.fd).st_size - HEADER.size) // RECORD.size)

    def record(self, i: int) -> tuple[int, int]:
        offset, time_ns = RECORD.unpack(
            os.pread(self.fd, RECORD.size, HEADER.size + i * RECORD.size)
        )
        return offset, time_ns

    def time_at(self, offset: int) -> int | None:
        """When the line starting at ``offset`` arrived (ns), or None if unknown."""
        if self._valid and self._lo <= offset:
            if offset < self._hi:
                return self._time
            if self._hi < 0 and self.count() == self._n:  # still the last record
                return self._time
        n = self._n = self.count()
        lo, hi = 0, n  # the first record with an offset > ``offset`` is in [lo, hi]
        while lo < hi:
            mid = (lo + hi) // 2
            if self.record(mid)[0] <= offset:
                lo = mid + 1
            else:
                hi = mid
        if lo == 0:  # before the first record: no time known
            self._lo, self._hi, self._time = 0, self.record(0)[0] if n else 0, None
        else:
            self._lo, self._time = self.record(lo - 1)
            # -1: the last record, whose range grows with the log until the next one.
            self._hi = self.record(lo)[0] if lo < n else -1
        self._valid = True
        return self._time

    def first_at_or_after(self, since_ns: int) -> int | None:
        """The offset of the first record with a time >= ``since_ns`` (None: none yet)."""
        n = self.count()
        lo, hi = 0, n
        while lo < hi:
            mid = (lo + hi) // 2
            if self.record(mid)[1] < since_ns:
                lo = mid + 1
            else:
                hi = mid
        return self.record(lo)[0] if lo < n else None

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)
