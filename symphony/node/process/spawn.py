"""Starting one job process in its own session, and the logger that writes its output.

Used by the node monitor. ``os.posix_spawn`` (a vfork+exec in glibc) is the cheapest way
for a Python process to start another, and it reports exec failures (missing
executable, permission denied) as an ``OSError`` in the parent, so we never need a
fork-then-report-through-a-pipe dance. What it cannot do we do around it:

- the working directory: the monitor is single-threaded, so it changes its own cwd
  for the duration of the call and changes back (posix_spawn children inherit it);
- the executable lookup: done here against the *job's* ``PATH``, not the monitor's, so
  the error names the real cause ("not found in PATH") instead of a bare ENOENT.

File descriptors: the job gets ``/dev/null`` as stdin and the write ends of two pipes as
stdout and stderr; their read ends belong to the job's logger (``joblogger``), started
first by :func:`spawn_logger` in a session of its own. Every other descriptor of the
monitor is close-on-exec (Python's default), so the job inherits nothing else. Signals that Python
ignores (SIGPIPE, SIGXFSZ) are reset to their defaults, as the job would expect.
"""

from __future__ import annotations

import fcntl
import os
import select
import shutil
import signal
import sys

_DEFAULT_SIGNALS = (signal.SIGPIPE, signal.SIGXFSZ)


class SpawnError(Exception):
    """The job could not be started; the message is the reason shown to the user."""


def resolve_executable(name: str, *, cwd: str, path_env: str | None) -> str:
    """The absolute path of the program ``name`` as the job would run it, or SpawnError."""
    if "/" in name:
        full = os.path.join(cwd, name)
        if not os.path.exists(full):
            raise SpawnError(f"executable {name!r} does not exist")
    else:
        found = shutil.which(name, mode=os.F_OK, path=path_env or os.defpath)
        if found is None:
            raise SpawnError(f"executable {name!r} not found in PATH")
        full = found if os.path.isabs(found) else os.path.join(cwd, found)
    if os.path.isdir(full):
        raise SpawnError(f"executable {name!r} is a directory")
    if not os.access(full, os.X_OK):
        raise SpawnError(f"permission denied: {name!r} is not executable")
    return full


_LOGGER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "joblogger.py")
#: ``-I -S``: the logger needs only the standard library, and starts faster without site.
_LOGGER_ARGV = (sys.executable, "-I", "-S", _LOGGER)


def spawn_logger(log_dir: str, *, max_bytes: int, backups: int) -> tuple[int, int, int, int]:
    """Start the logger of one run; return ``(pid, stdout_w, stderr_w, done_r)``.

    The write ends are close-on-exec: pass them to :func:`spawn_job`, then close them
    (the logger sees EOF only once every copy is closed). ``done_r`` reaches EOF when the
    logger has exited, that is when everything the job wrote is in the files (see
    :func:`wait_logger`). The logger runs as the leader of its own session, so signals
    for the job's process group never reach it.
    """
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    done_r, done_w = os.pipe2(os.O_CLOEXEC)
    # Lift the read ends above the target numbers 3 and 4, so that neither dup2 of the
    # spawn can overwrite the other's source.
    out_r, err_r, done_w = (_above_targets(fd) for fd in (out_r, err_r, done_w))
    try:
        limits = ["--max-bytes", str(max_bytes), "--backups", str(backups)]
        devnull = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        try:
            pid = os.posix_spawn(
                sys.executable,
                [*_LOGGER_ARGV, "--dir", log_dir, *limits],
                # Not the job's environment: the logger must not carry its run marker.
                {"PATH": os.defpath},
                file_actions=[
                    (os.POSIX_SPAWN_DUP2, devnull, 0),
                    (os.POSIX_SPAWN_DUP2, devnull, 1),
                    (os.POSIX_SPAWN_DUP2, out_r, 3),
                    (os.POSIX_SPAWN_DUP2, err_r, 4),
                    (os.POSIX_SPAWN_DUP2, done_w, 5),
                ],
                setsid=True,
                setsigdef=_DEFAULT_SIGNALS,
                setsigmask=(),
            )
        finally:
            os.close(devnull)
    except OSError as error:
        for fd in (out_w, err_w, done_r):
            os.close(fd)
        raise SpawnError(f"cannot start the job's logger: {error.strerror or error}") from error
    finally:
        for fd in (out_r, err_r, done_w):
            os.close(fd)
    return pid, out_w, err_w, done_r


def _above_targets(fd: int) -> int:
    """``fd`` moved to 10 or above, so that no dup2 onto 3, 4 or 5 overwrites a source."""
    high = fcntl.fcntl(fd, fcntl.F_DUPFD_CLOEXEC, 10)
    os.close(fd)
    return high


def wait_logger(done: int | None, timeout: float) -> None:
    """Wait (at most ``timeout`` s) until the logger behind ``done`` exits; close ``done``.

    Called when a run ends: its members are gone, so the logger is only draining the
    last bytes of its pipe (at most its 1 MiB buffer): normally a millisecond. The bound
    covers a writer that escaped the run and still holds the pipe.
    """
    if done is None:
        return
    try:
        select.select([done], [], [], timeout)
    finally:
        os.close(done)


def start_run(
    *,
    command: list[str],
    env: dict[str, str],
    cwd: str,
    log_dir: str,
    max_bytes: int,
    backups: int,
) -> tuple[int, int]:
    """Start a job and its logger; return ``(job pid, done fd of the logger)``."""
    _, out, err, done = spawn_logger(log_dir, max_bytes=max_bytes, backups=backups)
    try:
        pid = spawn_job(command=command, env=env, cwd=cwd, stdout=out, stderr=err)
    except SpawnError:
        os.close(done)  # the logger sees EOF at once and exits
        raise
    finally:
        os.close(out)
        os.close(err)
    return pid, done


def spawn_job(
    *, command: list[str], env: dict[str, str], cwd: str, stdout: int, stderr: int
) -> int:
    """Start ``command`` as the leader of a new session; return its pid or raise SpawnError.

    ``stdout`` and ``stderr`` are descriptors (the write ends from :func:`spawn_logger`);
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
        previous = os.getcwd()
        os.chdir(cwd)
        try:
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
    except OSError as error:
        reason = error.strerror or str(error)
        raise SpawnError(f"cannot start {command[0]!r}: {reason}") from error
    finally:
        for fd in fds:
            os.close(fd)
