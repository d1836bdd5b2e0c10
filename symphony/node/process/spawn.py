"""Starting one job process: its own session, its output straight into log files.

Used by the node monitor. ``os.posix_spawn`` (a vfork+exec in glibc) is the cheapest way
for a Python process to start another, and it reports exec failures (missing
executable, permission denied) as an ``OSError`` in the parent, so we never need a
fork-then-report-through-a-pipe dance. What it cannot do we do around it:

- the working directory: the monitor is single-threaded, so it changes its own cwd
  for the duration of the call and changes back (posix_spawn children inherit it);
- the executable lookup: done here against the *job's* ``PATH``, not the monitor's, so
  the error names the real cause ("not found in PATH") instead of a bare ENOENT.

File descriptors: the job gets ``/dev/null`` as stdin and the two log files (opened in
``O_APPEND``) as stdout and stderr. Every other descriptor of the monitor is
close-on-exec (Python's default), so the job inherits nothing else. Signals that Python
ignores (SIGPIPE, SIGXFSZ) are reset to their defaults, as the job would expect.
"""

from __future__ import annotations

import os
import shutil
import signal

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


def open_log(path: str) -> int:
    """Open (creating) a log file for appending; O_APPEND makes copy-truncate rotation safe."""
    return os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC, 0o644)


def spawn_job(
    *, command: list[str], env: dict[str, str], cwd: str, stdout_path: str, stderr_path: str
) -> int:
    """Start ``command`` as the leader of a new session; return its pid or raise SpawnError."""
    if not os.path.isdir(cwd):
        raise SpawnError(f"working directory {cwd!r} does not exist")
    executable = resolve_executable(command[0], cwd=cwd, path_env=env.get("PATH"))
    fds: list[int] = []
    try:
        devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
        fds.append(devnull)
        out = open_log(stdout_path)
        fds.append(out)
        err = open_log(stderr_path)
        fds.append(err)
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
