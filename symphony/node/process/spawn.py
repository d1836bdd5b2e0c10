"""Starting one job process in its own session, and the logger that writes its output.

Used by the node monitor. ``os.posix_spawn`` (a vfork+exec in glibc) is the cheapest way
for a Python process to start another, and it reports exec failures (missing
executable, permission denied) as an ``OSError`` in the parent, so we never need a
fork-then-report-through-a-pipe dance. What it cannot do we do around it:

- the working directory: the monitor is single-threaded, so it changes its own cwd
  for the duration of the call and changes back (posix_spawn children inherit it);
- the executable lookup: done here against the *job's* ``PATH``, not the monitor's, so
  the error names the real cause ("not found in PATH") instead of a bare ENOENT.

File descriptors: the job gets ``/dev/null`` as stdin and its ends of two pipes as
stdout and stderr (open read-write, so that they never lose their last reader while it
runs: ``joblogger._both_ways``); their read ends go to the job's logger (``joblogger``,
``logpool``), in a session of its own, right after the job has started. Every
other descriptor of the monitor is close-on-exec (Python's default), so the job inherits
nothing else. Signals that Python ignores (SIGPIPE, SIGXFSZ) are reset to their
defaults, as the job would expect.
"""

from __future__ import annotations

import contextlib
import os
import signal
from functools import partial

from symphony.errors import SymphonyError

from .joblogger import LoggerPipes, fork_logger, wait_logger

# Not typing (about 0.8 MiB the long-lived monitor would keep): see .lighttuple.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import NamedTuple
else:
    from .lighttuple import NamedTuple

_DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)
#: (the jobs' open-files limit, the monitor's, how to set it), once it has raised its own
_LIMITS: tuple[tuple[int, int], tuple[int, int], Callable[[tuple[int, int]], None]] | None
_LIMITS = None
#: How long a failed spawn waits for its logger to write the error into the stderr log.
SPAWN_ERROR_LOG_TIMEOUT = 2.0


class SpawnError(SymphonyError):
    """The job could not be started; the message is the reason shown to the user."""


def _which(name: str, path: str) -> str | None:
    """The first ``dir/name`` along ``path`` that exists and is no directory: what
    ``shutil.which(name, mode=os.F_OK, path=path)`` returns (shutil, with the
    compression modules it loads, would stay resident in the monitor)."""
    seen = set()
    for directory in path.split(os.pathsep):
        if directory in seen:
            continue
        seen.add(directory)
        candidate = os.path.join(directory, name)
        if os.path.exists(candidate) and not os.path.isdir(candidate):
            return candidate
    return None


def resolve_executable(name: str, *, cwd: str, path_env: str | None) -> str:
    """The absolute path of the program ``name`` as the job would run it, or SpawnError."""
    if "/" in name:
        full = os.path.join(cwd, name)
        if not os.path.exists(full):
            raise SpawnError(f"executable {name!r} does not exist")
    else:
        found = _which(name, path_env or os.defpath)
        if found is None:
            raise SpawnError(f"executable {name!r} not found in PATH")
        full = found if os.path.isabs(found) else os.path.join(cwd, found)
    if os.path.isdir(full):
        raise SpawnError(f"executable {name!r} is a directory")
    if not os.access(full, os.X_OK):
        raise SpawnError(f"permission denied: {name!r} is not executable")
    return full


class Started(NamedTuple):  # not a dataclass: see ProcInfo in .proctree
    """A job that runs, and whatever its logger needs (:mod:`.logpool` hands its pipes
    to a shared logger, :meth:`start_logger` forks one of its own).

    Between the two, what the job writes waits in its pipes (the monitor holds their
    read ends): nothing is lost, the job only blocks if it fills a pipe.
    """

    pid: int
    pipes: LoggerPipes
    log_dir: str
    max_bytes: int
    backups: int
    mask: tuple[bytes, ...]

    def start_logger(self, *, after: int | None = None) -> tuple[int, int]:
        """Fork a logger for this job alone; return ``(logger pid, its done fd)``.

        ``after``: the done fd of the instance's previous logger, if it may still run:
        the new one writes only once that one is gone (:func:`~.joblogger.fork_logger`).
        A job whose logger cannot be forked is killed (:meth:`abandon`), and the error
        raised.
        """
        try:
            logger = fork_logger(
                self.log_dir,
                self.pipes,
                max_bytes=self.max_bytes,
                backups=self.backups,
                mask=self.mask,
                after=after,
            )
        except BaseException:
            self.abandon()
            raise
        return logger, self.pipes.done_r

    def abandon(self) -> None:
        """No logger can take this job's output: kill the job (it must not run
        unlogged) and close its pipes."""
        if self.pid:
            with contextlib.suppress(OSError):
                os.killpg(self.pid, signal.SIGKILL)
        self.pipes.close_readers()


def start_job(
    *,
    command: list[str],
    env: dict[str, str],
    cwd: str,
    log_dir: str,
    max_bytes: int,
    backups: int,
    mask: tuple[bytes, ...] = (),
) -> Started:
    """Start a job whose output waits in its pipes until its logger is forked.

    The job first: its start does not wait for the fork, nor compete with the forked
    logger and the copy-on-write faults that follow a fork (the monitor restarts a job
    before any of that). A job that cannot start raises SpawnError once its logger has
    written why into its stderr log.
    """
    pipes = LoggerPipes()
    try:
        pid = spawn_job(command=command, env=env, cwd=cwd, stdout=pipes.out_w, stderr=pipes.err_w)
    except SpawnError as error:
        # A job that never started has no output of its own: its stderr log says
        # why, so `symphony logs --stderr` shows the cause as well as `symphony ps`.
        _note(pipes.err_w, f"spawn error: {error}")
        pipes.close_writers()
        failed = Started(0, pipes, log_dir, max_bytes, backups, mask)
        _, done = failed.start_logger()
        wait_logger(done, SPAWN_ERROR_LOG_TIMEOUT)  # the line is in the file before we answer
        raise
    except BaseException:
        pipes.close_writers()
        pipes.close_readers()
        raise
    pipes.close_writers()  # before the logger's fork: it must hold no write end
    return Started(pid, pipes, log_dir, max_bytes, backups, mask)


def _note(fd: int, text: str) -> None:
    """Write a ``[symphony]`` line into a job's output pipe (a short write never blocks:
    the pipe is new and empty)."""
    with contextlib.suppress(OSError):
        os.write(fd, f"[symphony] {text}\n".encode(errors="replace"))


def raise_open_files() -> int:
    """Raise this process's soft open-files limit to its hard one; return the soft limit.

    For the monitor, which keeps three descriptors per live run (its done pipe and the
    read ends of its pipes, see :mod:`.logpool`): with a soft limit of 1024 that would
    be about 330 runs. The jobs it starts still get the limit it was started with
    (:func:`spawn_job`), as Go does for the processes it starts.
    """
    global _LIMITS
    # The resource module would stay resident (about 80 KiB): read the limits first,
    # and load it only when there is something to raise (soft below hard).
    with open("/proc/self/limits") as f:
        line = next((x for x in f if x.startswith("Max open files")), "")
    if len(fields := line.split()) > 4 and fields[3] == fields[4]:
        return int(fields[3]) if fields[3].isdigit() else 1 << 20
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    # An unlimited hard limit cannot be the soft one on Linux (fs.nr_open caps it).
    wanted = hard if hard != resource.RLIM_INFINITY else max(soft, 1 << 20)
    if wanted > soft:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))
        except (ValueError, OSError):
            return soft
        _LIMITS = (soft, hard), (wanted, hard), partial(resource.setrlimit, resource.RLIMIT_NOFILE)
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def spawn_job(
    *, command: list[str], env: dict[str, str], cwd: str, stdout: int, stderr: int
) -> int:
    """Start ``command`` as the leader of a new session; return its pid or raise SpawnError.

    ``stdout`` and ``stderr`` are descriptors (the write ends from ``fork_logger``);
    the caller keeps and closes them.
    """
    if not os.path.isdir(cwd):
        raise SpawnError(f"working directory {cwd!r} does not exist")
    executable = resolve_executable(command[0], cwd=cwd, path_env=env.get("PATH"))
    fds: list[int] = []
    try:
        devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        fds.append(devnull)
        out, err = stdout, stderr
        actions = [
            (os.POSIX_SPAWN_DUP2, devnull, 0),
            (os.POSIX_SPAWN_DUP2, out, 1),
            (os.POSIX_SPAWN_DUP2, err, 2),
        ]
        previous, limits = os.getcwd(), _LIMITS
        os.chdir(cwd)
        try:
            if limits is not None:  # the job's own, for the spawn (we are single-threaded)
                limits[2](limits[0])
            return os.posix_spawn(
                executable,
                command,
                env,
                file_actions=actions,
                setsid=True,
                setsigdef=_DEFAULT_SIGNALS,
                setsigmask=(),
            )
        finally:
            os.chdir(previous)
            if limits is not None:
                limits[2](limits[1])
    except OSError as error:
        reason = error.strerror or str(error)
        raise SpawnError(f"cannot start {command[0]!r}: {reason}") from error
    finally:
        for fd in fds:
            os.close(fd)
