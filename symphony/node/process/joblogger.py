"""The per-job logger: owns the read ends of a job's stdout/stderr pipes and writes the files.

Run by the node monitor beside every job (``spawn.spawn_logger``), as
``python -I -S joblogger.py --dir DIR --max-bytes N --backups K`` with the read end of
the job's stdout pipe on fd 3 and of its stderr pipe on fd 4. It imports only the
standard library and nothing of its package (``-I -S``: no site, no ``PYTHONPATH``), so it
starts in ~15 ms and costs ~3 MiB of private memory. Like Nomad's ``logmon``:

- **Rotation by rename, no line lost.** The logger, not the job, holds the file's
  descriptor, so it rotates by renaming (``stdout.log`` -> ``.1`` -> ... -> ``.K``, the
  oldest falls off) and reopening: no copy, no truncate, no window in which a write is
  lost. It rotates at a line boundary, so a line is never split between two files
  (unless one line alone is longer than ``max_bytes``); a file may pass ``max_bytes`` by
  the rest of the line that was open when it filled.
- **Independent of the monitor.** It runs in its own session (a stop of the job's
  process group, or of anything the monitor signals, never reaches it) and does not
  carry the job's run marker, so it is never counted as a member of the run. If the
  monitor dies, the logger keeps writing and rotating.
- **Exits at end of file.** When the job and every process that inherited its output
  are gone, the pipes reach EOF: the logger has written everything and exits.
- **Never blocks the job for long.** It only reads and appends. A write error (a full
  disk) drops that data, and a ``[symphony] N bytes lost`` line says so once writing
  works again.

One logger per instance writes at a time: a logger takes ``.logger.lock`` in the log
directory, so the logger of a restarted run waits (a few seconds at most) until the
previous run's logger has drained its pipe, and the two never rotate the same files.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import os
import selectors
import sys
import time

READ_SIZE = 1 << 20  # bytes per read: large reads keep up with a 100 MB/s writer
PIPE_SIZE = 1 << 20  # ask the kernel for a 1 MiB pipe: the job rarely waits for us
LOCK_NAME = ".logger.lock"
LOCK_WAIT = 5.0  # seconds to wait for a previous logger of the same instance


class LogFile:
    """One stream's live file and its rotation (see the module docstring)."""

    def __init__(self, path: str, *, max_bytes: int, backups: int) -> None:
        self.path = path
        self.max_bytes = max(1, max_bytes)
        self.backups = max(0, backups)
        self.lost = 0  # bytes dropped by write errors, reported once writing works again
        self._open()

    def _open(self) -> None:
        flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC
        self.fd = os.open(self.path, flags, 0o644)
        self.size = os.fstat(self.fd).st_size
        self.line_start = self.size == 0 or _last_byte(self.fd, self.size) == b"\n"

    def write(self, data: bytes) -> None:
        """Append ``data``, rotating at line boundaries so no file grows past its limit."""
        while data:
            room = self.max_bytes - self.size
            if len(data) <= room:
                self._out(data)
                return
            cut = data.rfind(b"\n", 0, room) + 1 if room > 0 else 0
            if cut == 0 and not self.line_start:
                # Finish the open line here, so that it stays whole in one file.
                end = data.find(b"\n") + 1
                if 0 < end <= self.max_bytes:
                    cut = end
            if cut == 0 and self.size == 0:
                cut = room  # one line longer than a whole file: it has to be split
            if cut:
                self._out(data[:cut])
                data = data[cut:]
            if data:
                self.rotate()

    def _out(self, data: bytes) -> None:
        if self.lost:
            note = f"[symphony] {self.lost} bytes lost: the log could not be written\n"
            if not self.line_start:
                note = "\n" + note
            if not self._write_all(note.encode()):
                self.lost += len(data)
                return
            self.lost = 0
            self.line_start = True
        if self._write_all(data):
            self.line_start = data.endswith(b"\n")
        else:
            self.lost += len(data)

    def _write_all(self, data: bytes) -> bool:
        view = memoryview(data)
        try:
            while view:
                written = os.write(self.fd, view)
                self.size += written
                view = view[written:]
        except OSError:  # a full disk must not stop the logger: count what was lost
            return False
        return True

    def rotate(self) -> None:
        """Rename the live file to ``.1`` (shifting older ones) and start a new one.

        Renames first, then opens the new file: a reader holding the old file sees the
        path change only once nothing more will be written to what it holds.
        """
        try:
            if self.backups == 0:
                os.unlink(self.path)
            else:
                for index in range(self.backups - 1, 0, -1):
                    older = f"{self.path}.{index}"
                    if os.path.exists(older):
                        os.replace(older, f"{self.path}.{index + 1}")
                os.replace(self.path, f"{self.path}.1")
        except OSError:
            return  # keep appending to the current file; the next write tries again
        old = self.fd
        try:
            self._open()
        except OSError:
            return
        os.close(old)

    def close(self) -> None:
        os.close(self.fd)


def _last_byte(fd: int, size: int) -> bytes:
    return os.pread(fd, 1, size - 1)


def _lock(directory: str) -> int:
    """Take the instance's logger lock, waiting up to LOCK_WAIT for a previous logger."""
    fd = os.open(os.path.join(directory, LOCK_NAME), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    deadline = time.monotonic() + LOCK_WAIT
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return fd
        except BlockingIOError:
            # An escaped process of the previous run may hold its pipe forever: after
            # the wait, log anyway rather than block this job's output for good.
            if time.monotonic() > deadline:
                return fd
            time.sleep(0.01)


def run(directory: str, pipes: dict[int, str], *, max_bytes: int, backups: int) -> None:
    """Copy each pipe (fd -> stream name) into ``<directory>/<stream>.log`` until EOF."""
    lock = _lock(directory)
    files = {
        fd: LogFile(os.path.join(directory, f"{name}.log"), max_bytes=max_bytes, backups=backups)
        for fd, name in pipes.items()
    }
    selector = selectors.DefaultSelector()
    for fd in files:
        with contextlib.suppress(OSError):  # not a pipe, or the limit is lower
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        selector.register(fd, selectors.EVENT_READ)
    while files:
        for key, _ in selector.select():
            fd = key.fd
            try:
                data = os.read(fd, READ_SIZE)
            except InterruptedError:
                continue
            except OSError:
                data = b""
            if data:
                files[fd].write(data)
                continue
            selector.unregister(fd)  # EOF: every writer of this pipe is gone
            os.close(fd)
            files.pop(fd).close()
    os.close(lock)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Symphony job logger (started by the monitor)")
    parser.add_argument("--dir", required=True)
    parser.add_argument("--max-bytes", type=int, required=True)
    parser.add_argument("--backups", type=int, required=True)
    args = parser.parse_args(argv)
    run(args.dir, {3: "stdout", 4: "stderr"}, max_bytes=args.max_bytes, backups=args.backups)
    return 0


if __name__ == "__main__":
    sys.exit(main())
