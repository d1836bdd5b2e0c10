"""One service per state directory: an exclusive lock held for the service's life.

Two Conductors (or two Nodes) on one state directory would overwrite each other's
files (``conductor.json``, the job records) and fight over the node monitor. So each
service takes an exclusive ``flock`` on a lock file in its directory when it starts and
keeps it until it ends; a second one is refused at once with one line that names the
directory and the holder's pid::

    with hold_state_dir(Path(".symphony"), "conductor"):
        ...  # serve

The Conductor locks ``conductor.lock`` and the Node ``node.lock``, so the two may share a
directory (as an embedding program may configure them) but never two of a kind. The
lock is the kernel's: it goes away with the process holding it, even on SIGKILL, so a
crashed service never leaves a stale lock behind. The lock file is left in place (an
``unlink`` would let a third process lock a new file while a second still holds the
old one); it holds the holder's pid, for the refusal message only.

A command that only checks whether a service holds the directory
(:func:`check_state_dir_free`: ``symphony ps`` finding a Conductor that is still
starting, ``symphony up`` before it checks its ports) takes a *shared* lock for a
moment. Probes then never refuse each other, and a service that finds only probes on the
file (a shared lock of its own would succeed: nobody holds it exclusively) tries again
for up to :data:`PROBE_GRACE` seconds instead of refusing a directory nobody holds.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import time
from collections.abc import Iterator
from pathlib import Path

from symphony.errors import SymphonyError
from symphony.owndir import NotOurDirectory, claim_private_dir, why_not_ours


class StateDirInUse(SymphonyError, OSError):
    """Another running service holds this state directory (its pid is in the message,
    and in ``holder`` when it could be read)."""

    holder: int | None = None


#: How long a service waits for probes (shared locks, held for the few microseconds of
#: a check) to let go of its lock file. A service holding it is refused at once.
PROBE_GRACE = 1.0


def lock_path(directory: Path, role: str) -> Path:
    """The lock file of ``role`` (``conductor`` or ``node``) in ``directory``."""
    return Path(directory) / f"{role}.lock"


@contextlib.contextmanager
def hold_state_dir(directory: Path, role: str) -> Iterator[Path]:
    """Hold ``directory`` for one ``role`` while the block runs (creating it, private, if
    needed: :func:`make_state_dir`).

    Raises:
        StateDirInUse: another process (or another service in this one) holds it.
        NotOurDirectory: it may be someone else's directory (``/tmp``): left as it was.
    """
    directory = Path(directory).absolute()
    make_state_dir(directory, role)
    path = lock_path(directory, role)
    # O_CLOEXEC: the processes we spawn (the node monitor, jobs) must not inherit the
    # lock, or it would outlive us in them.
    fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        _lock(fd, directory, role)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # lets go of the lock


def _lock(fd: int, directory: Path, role: str) -> None:
    """Lock ``fd`` exclusively, waiting out probes (see the module docstring)."""
    deadline = time.monotonic() + PROBE_GRACE
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        if not _only_probed(fd) or time.monotonic() >= deadline:
            raise _in_use(directory, role, _read_holder(fd))
        time.sleep(0.001)


def _only_probed(fd: int) -> bool:
    """Whether no one holds the file exclusively (so what stopped an exclusive lock was
    a probe's shared one): a shared lock of ours then succeeds, and is let go at once."""
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    fcntl.flock(fd, fcntl.LOCK_UN)
    return True


def make_state_dir(directory: Path, role: str, change: str = "--state-dir DIR") -> None:
    """Create ``directory`` (0700: private, as pki keeps it), or adopt an existing one
    that is plausibly Symphony's (:mod:`symphony.owndir`), or say in words why it cannot
    be: the bare ``[Errno 30] Read-only file system: '/x/ro'`` of a directory that cannot
    be made says neither what was being made nor what to do. ``change`` names the flag
    or setting that gives the directory, for the reader who must give another.

    Raises:
        NotOurDirectory: it may be someone else's (``/tmp``, a shared project directory).
        OSError: it is a file, or cannot be created or written.
    """
    directory = Path(directory).absolute()
    refuse_unusable(directory, role, change)
    existed = directory.exists()
    try:
        claim_private_dir(directory)
    except NotOurDirectory as exc:  # made foreign since the check above
        raise _not_ours(directory, role, exc.why, change) from None
    except OSError as exc:
        why = f"cannot {'write in' if existed else 'create'} it ({exc.strerror or exc})"
        raise OSError(_unusable(directory, role, why, change)) from exc


def refuse_unusable(directory: Path, role: str, change: str = "--state-dir DIR") -> None:
    """Raise ``OSError`` with words when ``directory`` cannot be a state directory
    because it, or the nearest of its parents that exists, is a file, or
    :class:`NotOurDirectory` when it exists and may be someone else's; create nothing
    (for a command that checks before its service starts)."""
    directory = Path(directory).absolute()
    existing = next((d for d in (directory, *directory.parents) if d.exists()), None)
    if existing is None:
        return
    if existing.is_dir():
        why = why_not_ours(directory) if existing == directory else None
        if why is not None:
            raise _not_ours(directory, role, why, change)
        return
    why = "it is a file" if existing == directory else f"{existing} is a file"
    raise OSError(_unusable(directory, role, f"{why}, not a directory", change))


def _unusable(directory: Path, role: str, why: str, change: str) -> str:
    return (
        f"cannot use {directory} as the {role}'s state directory: {why}; "
        f"give another one ({change})"
    )


def _not_ours(directory: Path, role: str, why: str, change: str) -> NotOurDirectory:
    use = f"the {role}'s state directory"
    return NotOurDirectory.refusing(directory, why, use=use, change=change)


def check_state_dir_free(directory: Path, role: str) -> None:
    """Refuse at once, as :func:`hold_state_dir` would, when another running service
    holds ``directory`` for ``role``; create nothing. For a command that checks other
    things before it takes the lock (``symphony up`` checks its ports): when both would
    fail, a service already running here is the more useful thing to say.

    Raises:
        StateDirInUse: another process holds it now.
    """
    directory = Path(directory).absolute()
    try:
        fd = os.open(lock_path(directory, role), os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return  # no lock file (or none we may read): nobody holds it, or the lock says so
    try:
        try:
            # Shared: a holder's exclusive lock stops it, other probes do not, and a
            # service starting now waits out this moment instead of refusing.
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise _in_use(directory, role, _read_holder(fd)) from None
    finally:
        os.close(fd)  # lets go of the lock if this took it


def _in_use(directory: Path, role: str, holder: int | None) -> StateDirInUse:
    error = StateDirInUse(
        f"state directory {directory} is in use by another {role} "
        f"(pid {'unknown' if holder is None else holder}); "
        f"stop that one first, or give this one another state directory"
    )
    error.holder = holder
    return error


def _read_holder(fd: int) -> int | None:
    """The holder's pid from the lock file, or None when it has not written it yet."""
    for _ in range(20):  # the holder writes its pid just after locking: give it 0.1 s
        text = os.pread(fd, 64, 0).decode(errors="replace").strip()
        if text.isdigit():
            return int(text)
        time.sleep(0.005)
    return None


def recorded_holder(directory: Path, role: str) -> int | None:
    """The pid last written to ``role``'s lock file in ``directory`` (None: none yet).

    Only a hint: the process may have ended since. Whether the lock is held now is
    what :func:`hold_state_dir` finds out.
    """
    try:
        text = lock_path(directory, role).read_text(errors="replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None
