"""The logger's read loop: runs' pipes into their instances' log files.

A logger (:mod:`.joblogger`) reads the stdout and stderr pipes of one run, or of many:
the node monitor keeps a few *shared* loggers (:mod:`.logpool`), each forked with a
*control socket* on which the monitor sends the pipes of each run it gives that logger
(``SCM_RIGHTS``: the two read ends, the run's done pipe, and optionally the done pipe of
the instance's previous logger elsewhere, :func:`hand_over`), with where its output
goes (the instance's log directory, rotation limits, the secrets to mask). A burst of
100 starts thus costs a few forks of the monitor, not a hundred (a fork and the
copy-on-write faults that follow it cost the monitor and the new logger about 4 ms of
CPU together), and a restart none.

Order is kept per instance, as between two loggers: a run's pipes are read only once
the same instance's earlier runs' pipes are at end of file (their members are gone, so
that is at once), the previous logger elsewhere has exited, and the instance's lock is
held (a ``flock`` of its log directory), except when that takes longer than
``HANDOVER_WAIT`` (a writer that escaped the old run still holds its pipe): then it is
read anyway. Each run's done pipe is closed when that run's pipes are drained: the
monitor's ``wait_logger`` for that run works as for a logger of its own. An instance's
files (:class:`~.joblogger.LogFile`) are opened, or created, when its first run here
is taken up, and closed with its lock as soon as no run of it is read or waiting here.
The logger exits when the monitor closes the socket (it retires a logger whose runs
have all ended, or the monitor is gone) and every pipe is drained.

**Done, or killed.** A drained run's done pipe gets one byte before it is closed: a
done pipe at end of file with no byte in it tells the monitor that its logger died
(SIGKILL) before it had written the run. The monitor then hands the run's pipes (it
keeps their read ends) to another logger, flagged ``lost`` (:func:`target_of`): that
logger first writes :data:`LOST_LINE` to the instance's files, on a line of its own.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import selectors
import socket
import time
from collections import deque

from .redact import Redactor

# Not typing (about 0.8 MiB the long-lived monitor would keep): see .lighttuple.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any, Protocol

READ_SIZE = 1 << 20  # bytes per read: large reads keep up with a 100 MB/s writer
PIPE_SIZE = 1 << 20  # ask the kernel for a 1 MiB pipe: the job rarely waits for us
HOLD_SECONDS = 1.0  # the longest a possible start of a secret waits for the next read
HANDOVER_WAIT = 5.0  # seconds a run's pipes wait for the instance's earlier output
LEGACY_LOCK = ".logger.lock"  # what loggers of earlier versions locked (see Relay._open)
RETRY = 0.01  # seconds between checks while a run waits (a lock, a previous logger)
#: The largest description of a run sent with its pipes (its secrets make most of it);
#: a run with more gets a logger of its own (:func:`~.joblogger.fork_logger`).
MAX_TARGET = 64 * 1024
_STREAMS = ("stdout", "stderr")  # the order of the pipes in a hand-over
#: Written by a logger given a run whose previous logger was killed (see above).
LOST_LINE = b"[symphony] the logger was killed: output it held may be lost\n"


if TYPE_CHECKING:

    class Sink(Protocol):
        """One stream's log file (``joblogger.LogFile``)."""

        def write(self, data: bytes) -> None: ...

        def new_run(self) -> None: ...

        def close(self) -> None: ...

    #: Opens an instance's files: (directory, max_bytes, backups) -> stream -> file.
    Opener = Callable[[str, int, int], dict[str, Sink]]


def target_of(directory: str, max_bytes: int, backups: int, mask: tuple[bytes, ...]) -> bytes:
    """Where a run's output goes, as sent with its pipes (see :func:`hand_over`)."""
    secrets = [m.decode("utf-8", "surrogateescape") for m in mask]
    spec = {"dir": directory, "max_bytes": max_bytes, "backups": backups, "mask": secrets}
    return b"R" + json.dumps(spec).encode()


def lost(target: bytes) -> bytes:
    """``target`` for a run taken over from a logger that was killed (see above)."""
    return b"L" + target[1:]


def hand_over(
    control: socket.socket, target: bytes, out_r: int, err_r: int, done_w: int, after: int | None
) -> None:
    """Send a run's pipes and ``target`` (:func:`target_of`) to the logger at the other end
    of ``control`` (OSError if it is gone). The caller closes its copies afterwards."""
    fds = [out_r, err_r, done_w] if after is None else [out_r, err_r, done_w, after]
    socket.send_fds(control, [target], fds)


class Target:
    """One run's destination: its instance's directory, rotation limits and secrets;
    ``lost``: its previous logger was killed (see the module docstring)."""

    __slots__ = ("backups", "directory", "lost", "mask", "max_bytes")

    def __init__(
        self,
        directory: str,
        max_bytes: int,
        backups: int,
        mask: tuple[bytes, ...],
        *,
        lost: bool = False,
    ):
        self.directory = directory
        self.max_bytes = max_bytes
        self.backups = backups
        self.mask = mask
        self.lost = lost


def _receive(control: socket.socket) -> tuple[Any, ...] | None:
    """``(target, pipes, done, after)`` of the next run, ``()`` for a message that is
    none, None at end of file (or a broken socket)."""
    try:
        message, fds, _, _ = socket.recv_fds(control, MAX_TARGET + 1, 4, socket.MSG_CMSG_CLOEXEC)
    except OSError:
        return None
    if not message:
        return None
    try:
        if len(fds) < 3:
            raise ValueError("no pipes")
        target = target_from(message)
    except (TypeError, ValueError, KeyError):
        for fd in fds:
            os.close(fd)
        return ()
    pipes = dict(zip(fds[:2], _STREAMS, strict=True))
    return target, pipes, fds[2], fds[3] if len(fds) > 3 else None


def target_from(message: bytes) -> Target:
    """The :class:`Target` described by ``message`` (:func:`target_of`, :func:`lost`);
    TypeError, ValueError or KeyError if it describes none."""
    kind = message[:1]
    spec: Any = json.loads(message[1:]) if kind in b"RL" else None
    return Target(
        str(spec["dir"]),
        int(spec["max_bytes"]),
        int(spec["backups"]),
        tuple(str(m).encode("utf-8", "surrogateescape") for m in spec["mask"]),
        lost=kind == b"L",
    )


class _Run:
    """One run's pipes still open, and the fd to close once they are all drained.
    (A plain class, not a dataclass: see ``ProcInfo`` in :mod:`.proctree`.)"""

    __slots__ = ("done", "instance", "open", "redactors")

    def __init__(self, instance: _Instance, open: set[int], done: int | None) -> None:
        self.instance = instance
        self.open = open
        self.done = done
        self.redactors: dict[int, Redactor] = {}


class _Waiting:
    """A run handed to us whose pipes are not read yet (see the module docstring)."""

    __slots__ = ("after", "deadline", "done", "pipes", "target")

    def __init__(self, target: Target, pipes: dict[int, str], done: int | None, after: int | None):
        self.target = target
        self.pipes = pipes
        self.done = done
        self.after = after  # the done fd of the instance's previous logger, elsewhere
        self.deadline = time.monotonic() + HANDOVER_WAIT


class _Instance:
    """An instance's files (open while a run of it is read here) and its waiting runs."""

    __slots__ = ("directory", "files", "locks", "reading", "waiting")

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self.files: dict[str, Sink] | None = None
        self.locks: list[int] | None = None  # the descriptors it is locked by, once taken
        self.reading = 0  # runs of it whose pipes are read now
        self.waiting: deque[_Waiting] = deque()


class Relay:
    """Copies runs' pipes into their instances' log files (see the module docstring)."""

    def __init__(self, opener: Opener, *, control: socket.socket | None) -> None:
        self.opener = opener
        self.control = control
        self.selector = selectors.DefaultSelector()
        self.reading: dict[int, tuple[str, _Run]] = {}
        self.instances: dict[str, _Instance] = {}
        self.turns: set[str] = set()  # instances whose next run may start, or that may close

    def add(
        self, target: Target, pipes: dict[int, str], done: int | None, after: int | None = None
    ) -> None:
        """A run to copy once its instance's earlier output is written."""
        instance = self.instances.get(target.directory)
        if instance is None:
            instance = self.instances[target.directory] = _Instance(target.directory)
        instance.waiting.append(_Waiting(target, pipes, done, after))
        self.turns.add(target.directory)

    def run(self) -> None:
        """Copy every run added, and every run handed over, until the control socket is
        closed and every pipe drained."""
        if self.control is not None:
            self.selector.register(self.control, selectors.EVENT_READ)
        while True:
            wake = self._start_waiting()
            if not self.reading and not self.instances and self.control is None:
                return
            # What a redactor holds back (a possible start of a secret) is written after
            # a quiet moment, so that a prompt without a newline still shows.
            held = any(run.redactors[fd].holding for fd, (_, run) in self.reading.items())
            timeout = HOLD_SECONDS if held else None
            if wake is not None:
                timeout = wake if timeout is None else min(timeout, wake)
            ready = self.selector.select(timeout)
            if not ready and held and timeout == HOLD_SECONDS:
                for fd, (stream, run) in self.reading.items():
                    files = run.instance.files
                    if files is not None:
                        files[stream].write(run.redactors[fd].flush())
            for key, _ in ready:
                if self.control is not None and key.fileobj is self.control:
                    self._on_control()
                else:
                    self._on_pipe(key.fd)

    def drain(self) -> None:
        """The last resort after a bug: read every pipe to its end and drop what comes
        (a job whose output has no reader would die of SIGPIPE at its next write),
        closing each run's done pipe once its own are drained. Takes no more runs."""
        if self.control is not None:
            self.control.close()  # the monitor's next hand-over fails: it forks another
            self.control = None
        runs = {fd: run for fd, (_, run) in self.reading.items()}
        for instance in self.instances.values():
            for waiting in instance.waiting:
                run = _Run(instance, set(waiting.pipes), waiting.done)
                runs.update(dict.fromkeys(waiting.pipes, run))
        poll = select.poll()
        for fd in runs:
            poll.register(fd, select.POLLIN)
        while runs:
            for fd, _ in poll.poll():
                with contextlib.suppress(InterruptedError):
                    try:
                        if os.read(fd, READ_SIZE):
                            continue
                    except OSError:
                        pass
                    poll.unregister(fd)
                    os.close(fd)
                    run = runs.pop(fd)
                    run.open.discard(fd)
                    if not run.open and run.done is not None:
                        _done(run.done)
                        run.done = None

    # ---- runs waiting for their turn ----------------------------------------------------
    def _start_waiting(self) -> float | None:
        """Start reading each instance's next run once its turn has come; return how
        soon to look again for a run that waits on time (a lock, a previous logger, the
        end of its wait), None if none does."""
        wake: float | None = None
        turns, self.turns = self.turns, set()
        for directory in turns:
            instance = self.instances.get(directory)
            if instance is None:
                continue
            while instance.waiting:
                head = instance.waiting[0]
                left = head.deadline - time.monotonic()
                late = left <= 0
                if instance.reading and not late:
                    # An earlier run of it is read: its end of file, or the deadline,
                    # starts this one.
                    wake = left if wake is None else min(wake, left)
                    break
                fresh = instance.files is None
                if (head.after is not None and not late and not _gone(head.after)) or (
                    fresh and not self._open(instance, late)
                ):
                    wake = RETRY
                    break
                instance.waiting.popleft()
                if head.after is not None:
                    os.close(head.after)
                self._adopt(instance, head, fresh=fresh)
            if instance.waiting:
                self.turns.add(directory)
            self._close_if_idle(instance)
        return wake

    def _open(self, instance: _Instance, late: bool) -> bool:
        """Take the instance's lock (or give up waiting for it, ``late``) and set up its
        files; False while another logger holds the lock.

        The lock is a ``flock`` of the instance's log directory (nothing to create); a
        ``.logger.lock`` file, which loggers of earlier versions created and locked, is
        locked too where one exists, so that such a logger still draining keeps its turn.
        """
        if instance.locks is None:
            instance.locks = []
            legacy = os.path.join(instance.directory, LEGACY_LOCK)
            for path, flags in ((instance.directory, os.O_DIRECTORY), (legacy, os.O_RDWR)):
                with contextlib.suppress(OSError):  # no lock: still log
                    instance.locks.append(os.open(path, flags | os.O_CLOEXEC))
        for fd in instance.locks:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                # An escaped process of a previous run may hold its pipe forever: after
                # the wait, log anyway rather than block this job's output for good.
                if not late:
                    return False
        head = instance.waiting[0].target
        instance.files = self.opener(instance.directory, head.max_bytes, head.backups)
        return True

    def _adopt(self, instance: _Instance, waiting: _Waiting, *, fresh: bool) -> None:
        files = instance.files
        assert files is not None
        if not fresh:  # the files stay open from an earlier run: this one starts a line
            for stream in set(waiting.pipes.values()):
                files[stream].new_run()
        if waiting.target.lost:  # after a line the killed logger left open: see new_run
            for stream in set(waiting.pipes.values()):
                files[stream].write(LOST_LINE)
        run = _Run(instance, set(waiting.pipes), waiting.done)
        for fd, stream in waiting.pipes.items():
            with contextlib.suppress(OSError):  # not a pipe, or the limit is lower
                fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
            self.selector.register(fd, selectors.EVENT_READ)
            run.redactors[fd] = Redactor(waiting.target.mask)
            self.reading[fd] = (stream, run)
        instance.reading += 1
        if not waiting.pipes:
            self._drained(run)

    def _close_if_idle(self, instance: _Instance) -> None:
        if instance.reading or instance.waiting:
            return
        del self.instances[instance.directory]
        for file in (instance.files or {}).values():
            file.close()
        for fd in instance.locks or ():
            os.close(fd)

    # ---- events -------------------------------------------------------------------------
    def _on_control(self) -> None:
        assert self.control is not None
        got = _receive(self.control)
        if got is None:
            self.selector.unregister(self.control)
            self.control.close()
            self.control = None
        elif got:
            self.add(*got)

    def _on_pipe(self, fd: int) -> None:
        stream, run = self.reading[fd]
        files = run.instance.files
        assert files is not None
        try:
            data = os.read(fd, READ_SIZE)
        except InterruptedError:
            return
        except OSError:
            data = b""
        if data:
            files[stream].write(run.redactors[fd].feed(data))
            return
        self.selector.unregister(fd)  # EOF: every writer of this pipe is gone
        os.close(fd)
        del self.reading[fd]
        files[stream].write(run.redactors.pop(fd).flush())
        run.open.discard(fd)
        if not run.open:
            self._drained(run)

    def _drained(self, run: _Run) -> None:
        """A run's output is all in the files: say so; its instance's next run (or the
        closing of its files) follows in the next turn of the loop."""
        if run.done is not None:
            _done(run.done)
            run.done = None
        run.instance.reading -= 1
        self.turns.add(run.instance.directory)


def _done(done: int) -> None:
    """Say a run is written: a byte, then end of file (see the module docstring)."""
    with contextlib.suppress(OSError):  # nobody waits for it any more
        os.write(done, b"d")
    os.close(done)


def _gone(done: int) -> bool:
    """Whether the logger behind ``done`` has exited (its end is readable)."""
    poll = select.poll()  # not select(): the fd may be past 1024 (see .spawn)
    poll.register(done, select.POLLIN)
    return bool(poll.poll(0))
