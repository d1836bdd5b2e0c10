"""The output of the runs a new monitor adopts: who reads it, and a logger of ours once
nobody does.

A monitor killed leaves its runs' output to its loggers, which go on (their runs'
pipes are theirs). The jobs' ends of those pipes are open read-write
(:func:`~.joblogger._both_ways`), so a logger killed too costs a job no SIGPIPE: its
writes wait once the pipe is full. The new monitor (:mod:`.takeover`) finds each live
adopted run's pipes by their inodes, which the run's record keeps (``meta["pipes"]``,
:func:`pipe_meta`), in the descriptors of the run's processes, 1 and 2 of the leader
first (a job may have moved them; a pipe of its own it put there is not ours; a record
of an earlier version has no inodes: the pipes open read-write at the leader's 1 and 2),
opens a read end of each through ``/proc`` and keeps it, as for its own runs
(:mod:`.logpool`), and looks for the logger that reads them (a ``symphony-log``
process holding that pipe; a scan of ``/proc`` when it starts, and one more at its
first poll :data:`RESCAN_AFTER` later for the runs the first found no reader of: a pipe
sent to a logger and not yet received is in nobody's descriptors). A run neither scan
finds a reader of goes to a logger of its own; the others' loggers are watched, every
:data:`~.monitor.FOREIGN_POLL` (1 s; the 1 MiB pipe holds that much of a job's output),
and when one is gone its runs go to a logger of ours, flagged lost (its
:data:`~.logrelay.LOST_LINE`). From then on those runs are the monitor's like any
other: a logger of ours killed is replaced at once.

The secrets a logger masks are kept in memory only: the monitor records the *names* of
the job's variables that hold them (``meta["masked_env"]``) and, per run, a random salt
and the SHA-256 of salt + value of each (``meta["masked_sha256"]``, :func:`mask_meta`),
never a value. A new monitor reads the values from the leader's environment and uses
them only if each one's hash matches: a job that changed a secret variable before its
exec (``export TOKEN="Bearer $TOKEN"``) would otherwise have the new value masked and
the secret itself written. A record of an earlier version has no hashes: its values
are taken from the environment as they are.

A run whose secrets cannot be verified so is not taken over (its output would go
unmasked), nor is one whose pipes cannot be opened (one whose secrets are too many to
send to a shared logger gets a logger of its own, forked with them). While a logger of
the earlier monitor reads it, it runs on; once none does (or none did), it is stopped
with the reason :data:`~.takeover.UNTAKEN` (SIGTERM, SIGKILL after its grace), so that
its restart policy runs, rather than its job waiting for ever once its pipe is full.
Runs that an earlier version started are not taken over either (their pipes are
write-only: such a job is safe only while one of its readers lives).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time

from .logrelay import target_of
from .proctree import is_same_process, read_proc

# Not typing (about 0.8 MiB the long-lived monitor would keep): see .lighttuple.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from .logpool import LoggerPool, _Logger
    from .runstore import Run

#: The run record's ``meta`` key: the job's variables whose values its logger masks.
MASKED_ENV = "masked_env"
#: The run record's ``meta`` key: ``{"salt": hex, "sha256": [hex, ...]}``, one hash of
#: salt + value per name of :data:`MASKED_ENV`, in its order.
MASK_CHECK = "masked_sha256"
#: The run record's ``meta`` key: the inodes of the run's stdout and stderr pipes.
PIPES = "pipes"
_Place = tuple[int, int] | None  # where a pipe is open: (pid, descriptor)
_LOGGER_NAME = b"symphony-log\n"  # a logger's name, as /proc/<pid>/comm gives it
_RUNS_PER_TAKEOVER = 32  # runs nobody reads, given to one new logger (as logpool's)
#: Seconds after the first scan before the second, for the runs the first found no
#: reader of (a logger busy writing receives the pipes sent to it a little later).
RESCAN_AFTER = 0.5


def mask_meta(env: dict[str, str], mask: list[str]) -> dict[str, object]:
    """What a run's record keeps of its secrets (module docstring): the names of
    ``env``'s variables whose values are secrets of ``mask``, and a salted hash of each."""
    secrets = set(mask)
    names = sorted(name for name, value in env.items() if value in secrets)
    salt = os.urandom(16)
    hashes = [_digest(salt, env[name].encode()) for name in names]
    return {MASKED_ENV: names, MASK_CHECK: {"salt": salt.hex(), "sha256": hashes}}


def _digest(salt: bytes, value: bytes) -> str:
    # Imported here: hashlib maps OpenSSL's libcrypto (about 0.5 MiB resident), which
    # the long-lived monitor needs only once a job has secrets to mask.
    import hashlib

    return hashlib.sha256(salt + value).hexdigest()


class AdoptedOutput:
    """The loggers of an earlier monitor that read adopted runs (module docstring)."""

    def __init__(self, pool: LoggerPool) -> None:
        self.pool = pool
        self.readers: dict[int, tuple[int, _Logger]] = {}  # pid -> (start ticks, it)
        # run id -> its pipes (inodes): runs nobody read at the scan, looked for again
        self.unread: dict[str, tuple[int | None, int | None]] = {}
        # run id -> (pid, start ticks) of its reader: runs we cannot take over (-1: none).
        # Kept after a run ends, until its reader is gone; only take() adds (once per
        # monitor), so never more than the runs adopted at the takeover.
        self.untaken: dict[str, tuple[int, int]] = {}
        self.given_up: list[str] = []  # runs left with no reader: to be stopped
        self._rescan_at = 0.0

    def take(self, runs: list[Run], members: dict[str, list[int]]) -> None:
        """Keep a read end of each live adopted run's pipes, and note who reads them
        (``members``: run id -> pids of its processes other than its leader)."""
        pipes: dict[str, tuple[int | None, int | None]] = {}
        places: dict[str, tuple[_Place, _Place]] = {}
        untakeable = set()
        for run in runs:
            inodes = run.meta.get(PIPES)
            if (
                isinstance(inodes, list)
                and len(inodes) == 2
                and all(type(i) is int for i in inodes)
            ):
                places[run.run_id], readable = _find_pipes(
                    inodes, [run.pid, *members.get(run.run_id, ())]
                )
                pipes[run.run_id] = (inodes[0], inodes[1])
                if not readable and None in places[run.run_id]:
                    untakeable.add(run.run_id)  # one may be where we cannot see: a wait
                elif places[run.run_id] == (None, None):
                    del pipes[run.run_id]  # no process of the run holds them: no wait
                continue
            found = _our_pipes(run.pid)  # a record of an earlier version
            if found != (None, None):
                pipes[run.run_id] = found
                out_at = (run.pid, 1) if found[0] else None
                places[run.run_id] = (out_at, (run.pid, 2) if found[1] else None)
        if not pipes:
            return
        self._rescan_at = time.monotonic() + RESCAN_AFTER
        readers = _readers({ino for pair in pipes.values() for ino in pair if ino})
        unread = 0
        for run in runs:
            if run.run_id not in pipes:
                continue
            out, err = pipes[run.run_id]
            reader = readers.get(out or 0) or readers.get(err or 0)
            if reader is None:  # nobody reads it: a logger of ours, at the first poll
                reader = (-1 - unread // _RUNS_PER_TAKEOVER, -1)
                unread += 1
                self.unread[run.run_id] = (out, err)
            if run.run_id in untakeable or not self._adopt(
                run, reader, pipes[run.run_id], places[run.run_id]
            ):
                self.untaken[run.run_id] = reader

    def _adopt(
        self,
        run: Run,
        reader: tuple[int, int],
        inodes: tuple[int | None, int | None],
        places: tuple[_Place, _Place],
    ) -> bool:
        """Keep read ends of ``run``'s pipes, to give them to a logger of ours once
        ``reader`` is gone; False if the run cannot be taken over."""
        mask = _mask(run)
        if mask is None:
            return False
        target = target_of(os.path.dirname(run.stdout), run.log_max_bytes, run.log_backups, mask)
        (out, err), (out_at, err_at) = inodes, places
        try:
            out_r = _open_reader(out_at, out)
        except OSError:
            return False
        try:
            err_r = _open_reader(err_at, err, out)
        except OSError:
            os.close(out_r)
            return False
        pid, ticks = reader
        if pid not in self.readers:
            self.readers[pid] = (ticks, self.pool.reader(pid))
        logger = self.readers[pid][1]
        self.pool.adopt(run.run_id, target, (out_r, err_r), logger, os.path.dirname(run.stdout))
        return True

    def poll(self) -> None:
        """Give the runs of each reader gone to a logger of ours (the runs nobody read at
        the first scan, once a second one finds no reader either: a pipe on its way to
        a logger, sent and not yet received, is in no process's descriptors)."""
        if self.unread and time.monotonic() >= self._rescan_at:
            self._rescan()
        early = bool(self.unread)  # the runs nobody read wait for the second scan
        for run_id, (pid, ticks) in list(self.untaken.items()):
            if pid <= 0 and early:
                continue
            if pid <= 0 or not is_same_process(pid, ticks):  # its job would wait for ever
                del self.untaken[run_id]
                self.given_up.append(run_id)
        for pid, (ticks, reader) in list(self.readers.items()):
            alive = is_same_process(pid, ticks) if pid > 0 else early  # ours: not yet
            if reader.runs and alive:
                continue
            if reader.runs and not self.pool.lost(reader):
                continue  # no logger could be forked: the next poll tries again
            del self.readers[pid]

    def _rescan(self) -> None:
        unread, self.unread = self.unread, {}
        readers = _readers({ino for pair in unread.values() for ino in pair if ino})
        for run_id, (out, err) in unread.items():
            found = readers.get(out or 0) or readers.get(err or 0)
            if found is not None and run_id in self.untaken:
                self.untaken[run_id] = found
            if found is None or run_id not in self.pool.held:
                continue
            pid, ticks = found
            if pid not in self.readers:
                self.readers[pid] = (ticks, self.pool.reader(pid))
            self.pool.move(run_id, self.readers[pid][1])


def pipe_meta(out_r: int, err_r: int) -> dict[str, object]:
    """What a run's record keeps of its pipes (the inodes of ``out_r``, ``err_r``)."""
    return {PIPES: [os.fstat(out_r).st_ino, os.fstat(err_r).st_ino]}


def _find_pipes(inodes: list[int], pids: list[int]) -> tuple[tuple[_Place, _Place], bool]:
    """Where the pipes ``inodes`` (stdout, stderr) are open in ``pids``' descriptors (1
    and 2 of the first first), and whether every descriptor could be read."""
    wanted = {f"pipe:[{ino}]": i for i, ino in enumerate(inodes)}
    found: list[_Place] = [None, None]
    readable = True
    for pid in pids:
        try:
            fds = ["1", "2", *os.listdir(f"/proc/{pid}/fd")]
        except FileNotFoundError:
            continue
        except OSError:
            readable = False
            continue
        for fd in fds:
            try:
                index = wanted.get(os.readlink(f"/proc/{pid}/fd/{fd}"))
            except FileNotFoundError:
                continue
            except OSError:
                readable = False
                continue
            if index is not None and found[index] is None:
                found[index] = (pid, int(fd))
        if None not in found:
            break
    return (found[0], found[1]), readable


def _our_pipes(pid: int) -> tuple[int | None, int | None]:
    """The pipes (inodes) at ``pid``'s descriptors 1 and 2 that are open read-write:
    those a monitor of ours gave the job, for a record of an earlier version, which
    has not their inodes (see the module docstring)."""
    found: list[int | None] = []
    for fd in (1, 2):
        ino = None
        with contextlib.suppress(OSError, ValueError):
            link = os.readlink(f"/proc/{pid}/fd/{fd}")
            if link.startswith("pipe:[") and _read_write(pid, fd):
                ino = int(link[6:-1])
        found.append(ino)
    return found[0], found[1]


def _read_write(pid: int, fd: int) -> bool:
    with open(f"/proc/{pid}/fdinfo/{fd}", "rb") as f:
        for line in f:
            if line.startswith(b"flags:"):
                return int(line.split()[1], 8) & os.O_ACCMODE == os.O_RDWR
    return False


def _readers(inodes: set[int]) -> dict[int, tuple[int, int]]:
    """Pipe inode -> (pid, start ticks) of a logger process holding it."""
    found: dict[int, tuple[int, int]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/comm", "rb") as f:
                if f.read() != _LOGGER_NAME:
                    continue
        except OSError:
            continue
        # Its start first, and again after: the descriptors read are that process's
        # (not those of another that took its pid meanwhile).
        info = read_proc(int(name))
        if info is None or info.zombie:
            continue
        try:
            fds = os.listdir(f"/proc/{name}/fd")
        except OSError:
            continue
        held = set()
        for fd in fds:  # one closed since the listing is no reason to skip the others
            with contextlib.suppress(OSError):
                held.add(os.readlink(f"/proc/{name}/fd/{fd}"))
        if not is_same_process(info.pid, info.start_ticks):
            continue
        for ino in inodes:
            if f"pipe:[{ino}]" in held:
                found[ino] = (info.pid, info.start_ticks)
    return found


def _mask(run: Run) -> tuple[bytes, ...] | None:
    """The secrets of ``run`` (module docstring); None if one cannot be read, or is not
    the value it was started with."""
    names = run.meta.get(MASKED_ENV) or []
    if not names:
        return ()
    try:
        with open(f"/proc/{run.pid}/environ", "rb") as f:
            entries = f.read().split(b"\0")
    except OSError:
        return None
    values = {}
    for entry in entries:
        name, _, value = entry.partition(b"=")
        values[name.decode(errors="replace")] = value
    if not all(isinstance(n, str) and n in values for n in names):
        return None
    found = tuple(values[n] for n in names)
    check = run.meta.get(MASK_CHECK)
    if check is None:  # a record of an earlier version: the environment as it is
        return found
    try:
        salt, hashes = bytes.fromhex(check["salt"]), list(check["sha256"])
    except (TypeError, KeyError, ValueError):
        return None
    if len(hashes) != len(found):
        return None
    if any(_digest(salt, value) != wanted for value, wanted in zip(found, hashes, strict=True)):
        return None
    return found


def _open_reader(at: _Place, ino: int | None, other: int | None = None) -> int:
    """A new read end of the pipe ``ino`` at ``at`` (a pid's descriptor), above 10; an
    empty pipe at end of file if there is none (or it is the other stream's)."""
    if at is None or ino is None or ino == other:
        empty, closed = os.pipe2(os.O_CLOEXEC)
        os.close(closed)
        return _above(empty)
    pid, fd = at
    # Without O_NONBLOCK the open of a FIFO waits for a writer; the logger reads blocking.
    reader = os.open(f"/proc/{pid}/fd/{fd}", os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    os.set_blocking(reader, True)
    if os.fstat(reader).st_ino != ino:  # the job moved another file there meanwhile
        os.close(reader)
        raise OSError(f"descriptor {fd} of {pid} changed")
    return _above(reader)


def _above(fd: int) -> int:
    """``fd`` moved above 10 (the logger moves its own descriptors to 3-7)."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high
