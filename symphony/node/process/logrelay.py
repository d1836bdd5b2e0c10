"""The logger's read loop: a run's pipes into the instance's log files, then the next's.

A logger (:mod:`.joblogger`) reads one run's stdout and stderr pipes until both reach
end of file. A logger forked with a *control socket* does not exit then: when the
monitor restarts the run it sends the new run's pipes over that socket (``SCM_RIGHTS``:
the two read ends and the new run's done pipe, :func:`hand_over`), and the same logger
goes on with them. A restart thus costs no fork of the monitor (about a millisecond,
then the copy-on-write faults that slow it for a while) and no logger start or exit.

Order is kept as between two loggers: the new pipes are read only once the old ones
are at end of file (the old run's members are gone, so that is at once), except when a
writer that escaped the old run still holds them after ``HANDOVER_WAIT``: then both are
read, as a second logger would after waiting for the lock. Each run's done pipe is
closed when that run's pipes are drained: the monitor's ``wait_logger`` for that run
works as before. The logger exits when the monitor closes the socket (the run ended
and nothing follows it here, or the monitor is gone) and every pipe is drained.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import selectors
import socket
import time

from .redact import Redactor

# Not typing (about 0.8 MiB the long-lived monitor would keep): see .lighttuple.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Protocol

READ_SIZE = 1 << 20  # bytes per read: large reads keep up with a 100 MB/s writer
PIPE_SIZE = 1 << 20  # ask the kernel for a 1 MiB pipe: the job rarely waits for us
HOLD_SECONDS = 1.0  # the longest a possible start of a secret waits for the next read
HANDOVER_WAIT = 5.0  # seconds a new run's pipes wait for the old ones' end of file
_STREAMS = ("stdout", "stderr")  # the order of the pipes in a hand-over


if TYPE_CHECKING:

    class Sink(Protocol):
        """One stream's log file (``joblogger.LogFile``)."""

        def write(self, data: bytes) -> None: ...

        def new_run(self) -> None: ...


def hand_over(control: socket.socket, out_r: int, err_r: int, done_w: int) -> None:
    """Send a new run's pipes to the logger at the other end of ``control`` (OSError if
    it is gone). The caller closes its copies afterwards."""
    socket.send_fds(control, [b"R"], [out_r, err_r, done_w])


def _receive(control: socket.socket) -> tuple[dict[int, str], int] | None:
    """The next run's pipes and done fd; None at end of file (or a broken socket)."""
    try:
        message, fds, _, _ = socket.recv_fds(control, 1, 3, socket.MSG_CMSG_CLOEXEC)
    except OSError:
        return None
    if not message:
        return None
    if len(fds) != 3:  # not a hand-over: drop whatever came with it
        for fd in fds:
            os.close(fd)
        return {}, -1
    return dict(zip(fds[:2], _STREAMS, strict=True)), fds[2]


class _Run:
    """One run's pipes still open, and the fd to close once they are all drained.
    (A plain class, not a dataclass: see ``ProcInfo`` in :mod:`.proctree`.)"""

    __slots__ = ("done", "open", "redactors")

    def __init__(self, open: set[int], done: int | None) -> None:
        self.open = open
        self.done = done
        self.redactors: dict[int, Redactor] = {}


class Relay:
    """Copies runs' pipes into the log files (see the module docstring)."""

    def __init__(
        self, files: dict[str, Sink], *, mask: tuple[bytes, ...], control: socket.socket | None
    ) -> None:
        self.files = files
        self.mask = mask
        self.control = control
        self.selector = selectors.DefaultSelector()
        self.reading: dict[int, tuple[str, _Run]] = {}
        self.pending: list[tuple[dict[int, str], int, float]] = []  # pipes, done, deadline

    def _adopt(self, pipes: dict[int, str], done: int | None, *, first: bool) -> None:
        run = _Run(set(pipes), done)
        for fd, stream in pipes.items():
            with contextlib.suppress(OSError):  # not a pipe, or the limit is lower
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
            self.selector.register(fd, selectors.EVENT_READ)
            run.redactors[fd] = Redactor(self.mask)
            self.reading[fd] = (stream, run)
        if not first:
            for stream in set(pipes.values()):
                self.files[stream].new_run()

    def run(self, pipes: dict[int, str], done: int | None = None) -> None:
        """Copy ``pipes`` (fd -> stream) and every run handed over after them."""
        self._adopt(pipes, done, first=True)
        if self.control is not None:
            self.selector.register(self.control, selectors.EVENT_READ)
        while self.reading or self.pending or self.control is not None:
            now = time.monotonic()
            while self.pending and (not self.reading or now >= self.pending[0][2]):
                new, new_done, _ = self.pending.pop(0)
                self._adopt(new, new_done, first=False)
            # What a redactor holds back (a possible start of a secret) is written after
            # a quiet moment, so that a prompt without a newline still shows.
            held = any(run.redactors[fd].holding for fd, (_, run) in self.reading.items())
            timeout = HOLD_SECONDS if held else None
            if self.pending:
                wait = max(0.0, self.pending[0][2] - now)
                timeout = wait if timeout is None else min(timeout, wait)
            ready = self.selector.select(timeout)
            if not ready:
                for fd, (stream, run) in self.reading.items():
                    self.files[stream].write(run.redactors[fd].flush())
            for key, _ in ready:
                if self.control is not None and key.fileobj is self.control:
                    self._on_control()
                else:
                    self._on_pipe(key.fd)

    def _on_control(self) -> None:
        assert self.control is not None
        got = _receive(self.control)
        if got is None:
            self.selector.unregister(self.control)
            self.control.close()
            self.control = None
        elif got[0]:
            self.pending.append((got[0], got[1], time.monotonic() + HANDOVER_WAIT))

    def _on_pipe(self, fd: int) -> None:
        stream, run = self.reading[fd]
        try:
            data = os.read(fd, READ_SIZE)
        except InterruptedError:
            return
        except OSError:
            data = b""
        if data:
            self.files[stream].write(run.redactors[fd].feed(data))
            return
        self.selector.unregister(fd)  # EOF: every writer of this pipe is gone
        os.close(fd)
        del self.reading[fd]
        self.files[stream].write(run.redactors.pop(fd).flush())
        run.open.discard(fd)
        if not run.open and run.done is not None:
            os.close(run.done)  # this run's output is all in the files
            run.done = None
