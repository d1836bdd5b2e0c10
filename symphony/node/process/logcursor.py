"""LogCursor: a reading position in a rotated log that follows its file through renames.

The job's logger (``joblogger``) rotates by renaming ``stdout.log`` to ``stdout.log.1``
(and ``.1`` to ``.2``, ...) and starting a new ``stdout.log``. A cursor holds an open
descriptor of one file of that chain and an offset in it, so a rename never moves the
bytes under it. At the end of its file it asks whether the path still names the same
file (same inode): if not, the logger has renamed it, and (because the logger renames
*before* it opens the new file) nothing more will be written to it; the cursor reads the
rest, then moves to the next newer file of the chain, found by inode among the backups.
So a reader that keeps up sees every byte once, in order, across any number of
rotations.

A reader that falls so far behind that its file was rotated off the end of the chain
(deleted: its descriptor still reads it) continues with the oldest file left; the files
it never saw are counted in :attr:`LogCursor.skipped_files`.
"""

from __future__ import annotations

import contextlib
import os

#: Bytes scanned per step when counting lines backwards for a tail.
SCAN_BLOCK = 1 << 16


def _ino(path: str) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def chain(path: str) -> list[str]:
    """The files of a rotated log, newest first: ``path``, ``path.1``, ``path.2``, ..."""
    names = [path]
    index = 1
    while os.path.exists(f"{path}.{index}"):
        names.append(f"{path}.{index}")
        index += 1
    return names


class LogCursor:
    """Reads a rotated log forward from a position; see the module docstring.

    Build one with :meth:`at_end`, :meth:`at_start` or :meth:`tail`; call :meth:`read`
    for the next bytes (``b""``: nothing new yet) and :meth:`close` when done.
    """

    def __init__(self, path: str, fd: int | None, offset: int) -> None:
        self.path = path
        self.fd = fd
        self.offset = offset
        self.skipped_files = 0
        #: (inode, offset) of the file and position the last bytes read came from.
        self.read_from: tuple[int, int] = (-1, 0)
        #: (inode, offset) where reading ends, or None to follow the log forever.
        self.stop: tuple[int, int] | None = None

    @classmethod
    def at_end(cls, path: str) -> LogCursor:
        """A cursor at the current end of the live file (only new bytes will be read)."""
        fd = _open(path)
        return cls(path, fd, os.fstat(fd).st_size if fd is not None else 0)

    @classmethod
    def at_start(cls, path: str) -> LogCursor:
        """A cursor at the start of the live file."""
        return cls(path, _open(path), 0)

    @classmethod
    def tail(cls, path: str, lines: int) -> LogCursor:
        """A cursor over the last ``lines`` lines of the log as it is now, ending there."""
        anchor = cls.at_end(path)
        try:
            return cls.before(anchor, anchor.offset, lines)
        finally:
            anchor.close()

    @classmethod
    def before(cls, anchor: LogCursor, position: int, lines: int) -> LogCursor:
        """A cursor over the last ``lines`` lines before ``position`` in the file that
        ``anchor`` holds (reaching into older files of the chain), ending at ``position``.

        Counts newlines backwards (in blocks, never holding more than one), so even a
        tail of 100,000 lines costs no memory. A final line without its newline counts.
        """
        if anchor.fd is None:
            cursor = cls(anchor.path, None, 0)
            cursor.stop = (-1, 0)  # no file yet: nothing to read
            return cursor
        fd = os.dup(anchor.fd)
        mine = os.fstat(fd).st_ino
        names = chain(anchor.path)
        found = next((i for i, name in enumerate(names) if _ino(name) == mine), None)
        older = names[found + 1 :] if found is not None else []
        first, end, needed = fd, position, lines
        start: int | None = position
        while lines > 0:
            start, count = _start_of_last_lines(fd, end, needed)
            if start is not None:
                break
            needed -= count
            older_fd = _open(older.pop(0)) if older else None
            if older_fd is None:
                start = 0  # the whole log is shorter than asked: all of it
                break
            if fd != first:
                os.close(fd)
            fd, end = older_fd, os.fstat(older_fd).st_size
        if fd != first:
            os.close(first)
        cursor = cls(anchor.path, fd, start or 0)
        cursor.stop = (mine, position)
        return cursor

    def read(self, limit: int) -> bytes:
        """Up to ``limit`` next bytes (``b""`` if there are none yet, or past the stop)."""
        for _ in range(64):  # each pass moves one file newer; the chain is short
            if self.fd is None:
                if self.stop is not None:
                    return b""
                self.fd = _open(self.path)
                self.offset = 0
                if self.fd is None:
                    return b""
            mine = os.fstat(self.fd).st_ino
            if self.stop is not None and self.stop[0] == mine:
                limit = min(limit, self.stop[1] - self.offset)
                if limit <= 0:
                    return b""
            data = os.pread(self.fd, limit, self.offset)
            if data:
                self.read_from = (mine, self.offset)
                self.offset += len(data)
                return data
            if _ino(self.path) == mine:
                return b""  # at the end of the live file: nothing new
            # Renamed: the logger writes no more into it. What it wrote before the rename
            # is there now, so read to its very end before moving on.
            data = os.pread(self.fd, limit, self.offset)
            if data:
                self.read_from = (mine, self.offset)
                self.offset += len(data)
                return data
            self._advance(mine)
        return b""

    def _advance(self, mine: int) -> None:
        """Move to the file that follows the one with inode ``mine`` in the chain."""
        names = chain(self.path)
        position = next((i for i, name in enumerate(names) if _ino(name) == mine), None)
        if position is None:  # rotated off the end: start with the oldest file left
            self.skipped_files += 1
            position = len(names)
        if self.fd is not None:
            os.close(self.fd)
        self.fd, self.offset = _open(names[position - 1]), 0

    def close(self) -> None:
        """Release the descriptor (idempotent)."""
        if self.fd is not None:
            with contextlib.suppress(OSError):
                os.close(self.fd)
            self.fd = None


def _open(path: str) -> int | None:
    try:
        return os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return None


def _start_of_last_lines(fd: int, end: int, lines: int) -> tuple[int | None, int]:
    """Where the last ``lines`` lines of the first ``end`` bytes begin (None: the file
    holds fewer), and how many lines were counted."""
    if end == 0:
        return None, 0
    position = end - (os.pread(fd, 1, end - 1) == b"\n")  # the last line's own newline
    found = 0
    while position > 0:
        step = min(SCAN_BLOCK, position)
        block = os.pread(fd, step, position - step)
        index = len(block)
        while (index := block.rfind(b"\n", 0, index)) >= 0:
            found += 1
            if found == lines:
                return position - step + index + 1, found
        position -= step
    return (0 if found + 1 >= lines else None), found + 1
