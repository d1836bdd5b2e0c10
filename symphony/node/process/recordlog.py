"""Records kept as lines appended to one file: no new file per record.

The agent keeps one record per instance it runs. A file per record made each start a
file creation, and on the node's file system a creation costs far more than an append
(measured on an ext4 data disk: ~40 us of CPU to create a file, ~80 us with its first
block, ~1.4 us to append a line to an open file). In a burst of 100 starts a fifth of
the agent's profile samples were in creating its records (about 15 % of its CPU).
Here every record is a line of JSON appended to ``records.jsonl``: a new record, a
changed one (the later line wins) and a deleted one (a *tombstone*,
``{"<key>": ..., "deleted": true}``) alike.

The file is rewritten without its dead lines (to a temporary file, then renamed over
it) once they outweigh the live ones and a floor, and removed once no record is left:
a node that runs nothing has no file. An append is one ``write`` of a whole line: a
process killed meanwhile leaves the line whole or absent, and a reader that comes in
between an append and its end sees a last line without its newline, which it skips.
Only a crash of the machine can leave a torn or garbled line; it is skipped as a record
that was never written (writes are not fsynced: after a machine crash there are no
jobs to adopt anyway). Before a store appends behind a torn last line it rewrites the
file, so its line cannot be glued to the torn one.
"""

from __future__ import annotations

import contextlib
import json
import os
from typing import Any

#: The file's name in its directory (not a record file of an earlier agent: no ``.json``).
RECORDS_FILE = "records.jsonl"
#: Dead bytes tolerated before a rewrite, whatever the live ones weigh.
COMPACT_FLOOR = 64 * 1024


def read_lines(path: str, key: str) -> dict[str, bytes]:
    """The latest live line (without its newline) of each record in the file at
    ``path``, by key; nothing when there is no file."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return {}
    return {name: data[start:end] for name, (start, end) in _fold(data, key).items()}


def _fold(data: bytes, key: str) -> dict[str, tuple[int, int]]:
    """Where the latest live line of each record is in ``data``: (start, end)."""
    latest: dict[str, tuple[int, int]] = {}
    start = 0
    while (end := data.find(b"\n", start)) >= 0:  # a last line not (yet) ended: skipped
        line, span, start = data[start:end], (start, end), end + 1
        try:
            record: Any = json.loads(line)
        except ValueError:
            continue  # garbled by a crash of the machine
        name = record.get(key) if isinstance(record, dict) else None
        if not isinstance(name, str):
            continue
        if record.get("deleted") is True:
            latest.pop(name, None)
        else:
            latest[name] = span
    return latest


class RecordLog:
    """Appends records to ``path``; see the module docstring. One writer per file."""

    def __init__(self, path: str, *, key: str, compact_floor: int = COMPACT_FLOOR) -> None:
        self.path = path
        self.key = key
        self.compact_floor = compact_floor
        self._fd: int | None = None
        try:
            with open(path, "rb") as f:
                data = f.read()
        except FileNotFoundError:
            data = b""
        # Where each live record's latest line is in the file (newline excluded): a
        # rewrite copies these, without reading any record again.
        self._spans = _fold(data, key)
        self._live_bytes = sum(end + 1 - start for start, end in self._spans.values())
        self._file_bytes = len(data)
        self._torn = bool(data) and not data.endswith(b"\n")

    def __contains__(self, name: str) -> bool:
        return name in self._spans

    def put(self, name: str, line: bytes) -> None:
        """Make ``line`` (one JSON object naming ``name`` under the key) its record."""
        if self._torn:
            self._rewrite()
        start = self._file_bytes
        self._append(line + b"\n")
        old = self._spans.get(name)
        self._live_bytes += len(line) + 1 - (old[1] + 1 - old[0] if old else 0)
        self._spans[name] = (start, start + len(line))
        self._maybe_rewrite()

    def drop(self, name: str) -> None:
        """Delete ``name``'s record (nothing to do when it has none)."""
        span = self._spans.pop(name, None)
        if span is None:
            return
        self._live_bytes -= span[1] + 1 - span[0]
        if not self._spans:
            self._remove()
            return
        if self._torn:
            self._rewrite()
        self._append(json.dumps({self.key: name, "deleted": True}).encode() + b"\n")
        self._maybe_rewrite()

    def close(self) -> None:
        """Close the file (the next append opens it again)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def _append(self, data: bytes) -> None:
        if self._fd is None:
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
            self._fd = os.open(self.path, flags, 0o600)
        view = memoryview(data)
        try:
            while view:  # a regular file takes it in one write unless the disk is full
                view = view[os.write(self._fd, view) :]
        except OSError:
            # Part of the line may be on disk: the next append must not be glued to it.
            self._torn = True
            raise
        self._file_bytes += len(data)

    def _maybe_rewrite(self) -> None:
        if self._file_bytes - self._live_bytes > max(self.compact_floor, self._live_bytes):
            self._rewrite()

    def _rewrite(self) -> None:
        """The file again with only the live records' latest lines."""
        data = self._read()
        if len(data) != self._file_bytes:  # not as this store left it: find the lines again
            found = _fold(data, self.key)
            self._spans = {name: found[name] for name in self._spans if name in found}
        chunks, spans, at = [], {}, 0
        for name, (start, end) in self._spans.items():
            chunks.append(data[start : end + 1])
            spans[name] = (at, at + end - start)
            at += end + 1 - start
        tmp = f"{self.path}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(b"".join(chunks))
            while view:
                view = view[os.write(fd, view) :]
        finally:
            os.close(fd)
        os.replace(tmp, self.path)
        self.close()  # its file is gone: the next append opens the new one
        self._spans = spans
        self._live_bytes = self._file_bytes = at
        self._torn = False

    def _read(self) -> bytes:
        try:
            with open(self.path, "rb") as f:
                return f.read()
        except FileNotFoundError:  # removed behind this store's back: its records with it
            return b""

    def _remove(self) -> None:
        self.close()
        for path in (self.path, f"{self.path}.tmp"):  # .tmp: a rewrite cut short by a kill
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        self._spans.clear()
        self._live_bytes = self._file_bytes = 0
        self._torn = False
