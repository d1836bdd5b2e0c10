"""The job logger: owns the read ends of jobs' stdout/stderr pipes and writes the files.

Forked by the node monitor (:func:`fork_shared`), a logger copies the output of up to
:data:`~.logpool.RUNS_PER_LOGGER` runs, handed to it as they start (:mod:`.logrelay`,
:mod:`.logpool`). A fork of the small, single-threaded monitor costs no interpreter
start (an exec'd Python would cost ~15 ms of CPU per job), and it shares the monitor's
memory pages (the garbage collector is off in the logger, so it does not touch, and
copy, them all); still, the fork and the copy-on-write faults after it cost the two
processes about 4 ms of CPU together, which is why a logger serves many runs, not
one. Its name in ``ps`` is ``symphony-log``. Like Nomad's ``logmon``:

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
- **Exits at end of file.** When a job and every process that inherited its output are
  gone, its pipes reach EOF: the logger has written everything of that run. It exits
  once the monitor has closed its control socket (the monitor is gone, or every run it
  gave that logger has ended) and every pipe is at EOF.
- **Secrets masked before they are written.** The exact values of the instance's
  secrets (6 bytes or more) are replaced by ``***`` (:mod:`.redact`), also when a value
  is split between two reads; nothing unmasked ever reaches the file.
- **Each line's arrival time noted beside it.** A small index per log file
  (:mod:`.logtimes`) records when the lines arrived, for ``logs --since`` and
  ``--timestamps``; it rotates with its log, and a full index rotates the log early.
- **Never blocks the job for long.** It only reads and appends. A write error (a full
  disk) drops that data, and a ``[symphony] N bytes lost`` line says so once writing
  works again.

One logger per instance writes at a time: a logger holds a ``flock`` of the log
directory while it writes an instance's files, so a run given to another logger waits
(a few seconds at most) until the previous run's logger has drained its pipe, and the
two never rotate the same files. When the monitor gives a run to a logger while the
instance's previous run's logger (another one) may still run, it hands the new one that
logger's done pipe (``after``): the new logger waits for its exit before it takes the
lock, so the runs' lines stay in order. Runs of one instance given to the same logger
are ordered there (:mod:`.logrelay`).
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import gc
import os
import select
import signal
import socket
import time

from . import logtimes
from .logrelay import Relay, Target

TYPE_CHECKING = False  # not typing: see .lighttuple
if TYPE_CHECKING:
    from collections.abc import Callable

    from .logrelay import Sink

_AFTER_FD = 6  # in the logger: the previous logger's done fd (see fork_logger)
_CONTROL_FD = 7  # in the logger: its end of the monitor's control socket (see logrelay)


class LogFile:
    """One stream's live file and its rotation (see the module docstring)."""

    def __init__(self, path: str, *, max_bytes: int, backups: int) -> None:
        self.path = path
        self.times_path = logtimes.times_path(path)
        self.max_bytes = max(1, max_bytes)
        self.backups = max(0, backups)
        self.times: logtimes.TimesWriter | None = None
        self.lost = 0  # bytes dropped by write errors, reported once writing works again
        self.fd: int | None = None  # None: the file could not be opened (yet)
        self.size = 0
        self.line_start = True
        self._retry_at = 0.0
        self._ino = 0  # the live file's inode, which its index names
        if self._open() and not self.line_start:
            # The previous run's output ended inside a line: this run starts a new one.
            self._out(b"\n")

    def _open(self) -> bool:
        """Open (or create) the live file; on failure keep the old state, retry later.

        Read-write, because a file left by an earlier run may end inside a line, and
        the next write must know it. Never raises: a logger that died would take the
        job with it (its next write would fail with SIGPIPE).
        """
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)
            size = os.fstat(fd).st_size
            line_start = size == 0 or os.pread(fd, 1, size - 1) == b"\n"
        except OSError:
            self._retry_at = time.monotonic() + 1.0
            return False
        self.fd, self.size, self.line_start = fd, size, line_start
        if self.times is not None:
            self.times.close()
        # The index is opened (or created) at the first line to note, not here: a
        # stream a run never writes to costs no index file (a creation is the largest
        # part of a logger's work per run, more so on a file system busy deleting).
        self.times, self._ino = None, os.fstat(fd).st_ino
        return True

    def new_run(self) -> None:
        """The next run's output follows: if this one's ended inside a line, end it."""
        if self.fd is not None and not self.line_start:
            self._out(b"\n")

    def write(self, data: bytes) -> None:
        """Append ``data``, rotating at line boundaries so no file grows past its limit
        (nor its index past its own)."""
        if data:
            self._index()
        if self.times is not None and self.times.full and self.line_start and self.size:
            self.rotate()
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
        if self.fd is None and (time.monotonic() < self._retry_at or not self._open()):
            self.lost += len(data)
            return
        if self.lost:
            note = f"[symphony] {self.lost} bytes lost: the log could not be written\n"
            if not self.line_start:
                note = "\n" + note
            if not self._write_all(self._stamp(note.encode())):
                self.lost += len(data)
                return
            self.lost = 0
            self.line_start = True
        if self._write_all(self._stamp(data)):
            self.line_start = data.endswith(b"\n")
        else:
            self.lost += len(data)

    def _stamp(self, data: bytes) -> bytes:
        """Note the arrival time of the first line that starts in ``data`` (before the
        data is written, so that a reader who sees a line finds its time)."""
        self._index()
        if self.times is None:
            return data
        if self.line_start:
            start = self.size
        else:
            newline = data.find(b"\n", 0, len(data) - 1)
            if newline < 0:
                return data  # only the rest of a line already noted
            start = self.size + newline + 1
        first = self.times.size == logtimes.HEADER.size
        self.times.note(start, time.time_ns(), time.monotonic_ns(), force=first)
        return data

    def _index(self) -> None:
        """Open the live file's index if it is not yet (see :meth:`_open`)."""
        if self.times is None and self.fd is not None:
            cap = logtimes.index_cap(self.max_bytes)
            self.times = logtimes.TimesWriter(self.times_path, self._ino, cap=cap)

    def _write_all(self, data: bytes) -> bool:
        view = memoryview(data)
        assert self.fd is not None
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
            _shift(self.path, self.backups)
        except OSError:
            return  # keep appending to the current file; the next write tries again
        with contextlib.suppress(OSError):  # a log without its index only lacks times
            _shift(self.times_path, self.backups)
        old = self.fd
        if self._open() and old is not None:
            os.close(old)

    def close(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        if self.times is not None:
            self.times.close()


def _shift(path: str, backups: int) -> None:
    """Rename ``path`` to ``path.1`` (and ``.1`` to ``.2``, ...); remove it if no backups."""
    if backups == 0:
        os.unlink(path)
        return
    for index in range(backups - 1, 0, -1):
        older = f"{path}.{index}"
        if os.path.exists(older):
            os.replace(older, f"{path}.{index + 1}")
    os.replace(path, f"{path}.1")


def open_files(directory: str, max_bytes: int, backups: int) -> dict[str, Sink]:
    """An instance's two live files (the :class:`~.logrelay.Relay`'s opener)."""
    return {
        name: LogFile(os.path.join(directory, f"{name}.log"), max_bytes=max_bytes, backups=backups)
        for name in ("stdout", "stderr")
    }


def run(
    directory: str,
    pipes: dict[int, str],
    *,
    max_bytes: int,
    backups: int,
    mask: tuple[bytes, ...] = (),
    done: int | None = None,
) -> None:
    """Copy each pipe (fd -> stream name) into ``<directory>/<stream>.log`` until EOF,
    with the secret values in ``mask`` replaced by ``***`` (:mod:`.redact`); ``done`` is
    closed then."""
    relay = Relay(open_files, control=None)
    relay.add(Target(directory, max_bytes, backups, mask), pipes, done)
    relay.run()


class LoggerPipes:
    """The pipes between a job and its logger: the job's stdout and stderr, and one that
    reaches EOF when the logger has drained them. Every end is close-on-exec; the read
    ends and ``done_w`` sit above 10, out of the way of where the logger moves them.

    The job's ends are opened read-write (:func:`_both_ways`): the job itself is then
    a reader of its own output pipes, so they never lose their last reader while it
    runs, whoever of ours is killed (:mod:`.logpool`)."""

    def __init__(self) -> None:
        out_r, out_w = os.pipe2(os.O_CLOEXEC)
        err_r, err_w = os.pipe2(os.O_CLOEXEC)
        self.out_w, self.err_w = _both_ways(out_w), _both_ways(err_w)
        self.done_r, done_w = os.pipe2(os.O_CLOEXEC)
        self.out_r, self.err_r, self.done_w = (_above(fd, 10) for fd in (out_r, err_r, done_w))

    def close_writers(self) -> None:
        """Close our copies of the job's write ends (the logger sees EOF once the job's
        copies are gone too)."""
        for fd in (self.out_w, self.err_w):
            with contextlib.suppress(OSError):
                os.close(fd)

    def close_readers(self) -> None:
        """Close every other end (no logger was given them); again: nothing."""
        for fd in (self.out_r, self.err_r, self.done_w, self.done_r):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.out_r = self.err_r = self.done_w = self.done_r = -1

    def handed(self) -> None:
        """The logger has the read ends and ``done_w`` (sent or forked): close ours."""
        for fd in (self.out_r, self.err_r, self.done_w):
            os.close(fd)
        self.out_r = self.err_r = self.done_w = -1

    def spare(self) -> tuple[int, int]:
        """A shared logger has them too: close ``done_w`` and give up (not close) the
        read ends, which the monitor keeps for a replacement logger (:mod:`.logpool`)."""
        os.close(self.done_w)
        readers = self.out_r, self.err_r
        self.out_r = self.err_r = self.done_w = -1
        return readers


def _both_ways(write_end: int) -> int:
    """The same pipe as ``write_end``, opened read-write (``/proc/self/fd``, about 5 µs);
    ``write_end`` itself where that fails.

    What the job sees: a pipe as before (``O_RDWR`` in its flags is the only trace;
    nobody reads a non-terminal stdout). A write never fails with SIGPIPE or EPIPE,
    for the pipe has a reader as long as the job holds it: with no logger reading, the
    job's writes fill the pipe (1 MiB, see :data:`~.logrelay.PIPE_SIZE`) and then
    wait, as for a slow logger, until one reads again. Its logger still sees end of
    file once every writer (the job's processes) is gone. A new monitor knows a pipe
    of ours by that flag (:mod:`.adoptedlogs`).
    """
    try:
        both = os.open(f"/proc/self/fd/{write_end}", os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return write_end
    os.close(write_end)
    return both


def fork_logger(
    log_dir: str,
    pipes: LoggerPipes,
    *,
    max_bytes: int,
    backups: int,
    mask: tuple[bytes, ...] = (),
    after: int | None = None,
) -> int:
    """Fork a logger of its own for one run, reading ``pipes``; return its pid.

    For the runs a shared logger cannot take (:mod:`.logpool`): a spawn error's line,
    a run whose secrets are too many to send. Called once the job has been spawned
    with the write ends and they are closed here (:meth:`LoggerPipes.close_writers`).
    ``pipes.done_r`` reaches EOF when the logger is gone, that is when everything the
    job wrote is in the files (:func:`wait_logger`). ``after`` is the done fd of the
    instance's previous logger, when that one may still run: this one writes only once
    it has exited (see :mod:`.logrelay`). Only for a single-threaded caller (the
    monitor): the child runs Python code.
    """

    target = Target(log_dir, max_bytes, backups, mask)
    pid = fork_one(target, pipes.out_r, pipes.err_r, pipes.done_w, after)
    pipes.handed()
    return pid


def fork_one(target: Target, out_r: int, err_r: int, done_w: int, after: int | None) -> int:
    """Fork a logger of its own for one run (:func:`fork_logger`; :mod:`.logpool` for an
    adopted run too large to describe to a shared one); return its pid. The caller
    keeps its copies of the descriptors."""

    def serve() -> None:
        _become_logger({3: out_r, 4: err_r, 5: done_w, _AFTER_FD: after})
        relay = Relay(open_files, control=None)
        relay.add(target, {3: "stdout", 4: "stderr"}, 5, None if after is None else _AFTER_FD)
        _serve(relay)

    return _fork(serve)


def fork_shared(control: int) -> int:
    """Fork a shared logger (:mod:`.logpool`): the runs it copies come over ``control``,
    its end of a ``SOCK_SEQPACKET`` pair (:func:`~.logrelay.hand_over`); it exits once
    that is closed and every run's pipes are drained. Return its pid."""

    def serve() -> None:
        _become_logger({_CONTROL_FD: control})
        _serve(Relay(open_files, control=socket.socket(fileno=_CONTROL_FD)))

    return _fork(serve)


def _fork(child: Callable[[], None]) -> int:
    """Fork; the child runs ``child`` and exits (0 if it returned, else 1) without
    running anything of the monitor's (no atexit, no flush). Returns the child's pid."""
    pid = os.fork()
    if pid == 0:
        code = 1
        try:
            child()
            code = 0
        finally:
            os._exit(code)
    return pid


def _serve(relay: Relay) -> None:
    """Run ``relay``; on a bug, drain every pipe it has to the end (a job whose output
    pipe has no reader would die of SIGPIPE at its next write)."""
    try:
        relay.run()
    except BaseException:
        import traceback  # only here: the monitor it is forked from never loads it

        traceback.print_exc()
        relay.drain()
        raise


def _become_logger(fds: dict[int, int | None]) -> None:
    """In the forked child: own session, default signals, only our descriptors, each
    moved to its number (``fds``: target -> ours, None: none)."""
    gc.disable()  # the monitor's objects are shared copy-on-write: leave them untouched
    os.setsid()  # a stop of the job's process group (or the monitor's) never reaches us
    signal.set_wakeup_fd(-1)  # the monitor's wakeup socket is about to be closed
    for signum in (signal.SIGCHLD, signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(signum, signal.SIG_DFL)
    # Out of the way of 3-7 first: they may be any low numbers.
    high = {target: None if fd is None else _above(fd, 10) for target, fd in fds.items()}
    for target, fd in high.items():
        if fd is not None:
            os.dup2(fd, target)
    os.closerange(_CONTROL_FD + 1, os.sysconf("SC_OPEN_MAX"))  # the monitor's sockets...
    for target in range(3, _CONTROL_FD + 1):
        if high.get(target) is None:
            with contextlib.suppress(OSError):
                os.close(target)
    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)  # stderr stays: the monitor's log, for a traceback
    os.close(devnull)
    _set_name(b"symphony-log")


def _set_name(name: bytes) -> None:
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None).prctl(15, name, 0, 0, 0)  # PR_SET_NAME: the name in ps and top


def _above(fd: int, minimum: int) -> int:
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, minimum)
    os.close(fd)
    return high


def wait_logger(done: int | None, timeout: float, *, close: bool = True) -> None:
    """Wait (at most ``timeout`` s) until the logger behind ``done`` is gone; close ``done``
    (unless ``close`` is False).

    Called when a run ends: its members are gone, so the logger only drains the last
    bytes of its pipe (at most its 1 MiB buffer): normally well under a millisecond.
    The bound covers a writer that escaped the run and still holds the pipe.
    """
    if done is None:
        return
    try:
        _readable(done, timeout)
    finally:
        if close:
            os.close(done)


def logger_gone(done: int) -> bool | None:
    """Whether the logger behind ``done`` has written the run, without waiting: True
    once it has (it wrote a byte, see :mod:`.logrelay`, which this reads: the next call
    says False), None while it has not, False if it is gone without (killed: the pipe
    is at end of file, and empty). Reading, not ``FIONREAD``: ``termios`` would stay
    resident in the monitor."""
    if not _readable(done, 0.0):
        return None
    try:
        return os.read(done, 1) != b""
    except OSError:
        return False


def _readable(fd: int, timeout: float) -> bool:
    """Whether ``fd`` is readable within ``timeout`` s (poll: the monitor's descriptors
    may pass the 1024 that select() takes, see :func:`~.spawn.raise_open_files`)."""
    poll = select.poll()
    poll.register(fd, select.POLLIN)
    return bool(poll.poll(max(0.0, timeout) * 1000))
