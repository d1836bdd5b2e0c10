"""A directory of Symphony's own: made private (0700), or refused when it may not be ours.

Symphony keeps what nobody else should read (the database, keys, the API token, job
logs) in directories it keeps private, mode 0700. For a directory that already exists
that means a ``chmod``; done to one that is not Symphony's (``--state-dir /tmp``, a
project directory shared with colleagues) it would lock every other user out of it, and
Symphony's files would then lie beside theirs. So :func:`claim_private_dir` creates a
missing directory, and tightens an existing one only when it is plausibly Symphony's:

- it belongs to this process's user, when it must be tightened (its group or other
  users have any access). One already private to its owner (0700) is used as it is,
  owner or not: on NFS with ``all_squash``, sshfs or CIFS, or after ``sudo``, the
  directory Symphony made shows another owner on every later start;
- not every user may write in it: it is neither sticky (``/tmp``'s mode 1777) nor
  world-writable (a group-writable one is taken, and tightened);
- it is empty, or holds the marker file :data:`MARKER` (which Symphony writes into every
  directory it makes or adopts), or (made by a release older than the marker) holds
  Symphony's own files: one of :data:`SIGNATURE`, or nothing but :data:`OURS`. The
  clutter an OS or a file manager leaves anywhere (:data:`CLUTTER`) is not looked at.

Any other is refused with :class:`NotOurDirectory`, which says why and what to do
instead: give Symphony a directory of its own, such as a new one inside it::

    claim_private_dir(Path("/tmp"))
    # NotOurDirectory: refusing to make /tmp private: it is shared with every user
    # (mode 1777); use a directory of its own, e.g. /tmp/symphony
"""

from __future__ import annotations

import errno
import logging
import os
import stat
from pathlib import Path

from symphony.errors import SymphonyError

__all__ = ["CLUTTER", "MARKER", "NotOurDirectory", "claim_private_dir", "why_not_ours"]

log = logging.getLogger(__name__)

#: Written (0600) into every directory Symphony makes or adopts: what says "ours" later.
MARKER = ".symphony-dir"
_MARKER_TEXT = b"Symphony keeps private state here (mode 0700); it made or adopted it.\n"

#: Files only Symphony names so: one of them marks a directory made by an older release
#: (the Conductor's state and certificates, a Node's state, the experiment a program
#: last chose). Common TLS names (``server.key``) are not among them: a project may
#: hold one of its own.
SIGNATURE = frozenset(
    {
        *("symphony.db", "symphony.db-wal", "symphony.db-shm", "api-token", "secrets.key"),
        *("conductor.json", "conductor.lock", "conductor-id", "node.lock", "incarnation"),
        *("node-client.pem", "node-client.key", "current-experiment.json"),
    }
)
#: Every name Symphony gives an entry of its directories: too common to mark one alone
#: (a project has ``jobs/`` or ``server.key`` of its own), but a directory holding
#: nothing else is an older release's (a Node's from before its lock file: ``cache``,
#: ``jobs``; a Node's ``identity/`` or ``symphony up``'s node keys: ``node.key``, ...).
OURS = SIGNATURE | {
    *(MARKER, "cache", "jobs", "identity", "certs", "uploads", "node"),
    *("ca.pem", "ca.key", "server.pem", "server.key", "node.pem", "node.key"),
}
#: What an OS or a file manager leaves in any directory (a mount's ``lost+found``,
#: macOS's and Windows' folder settings) or a user puts in to keep it out of git: not
#: a sign of someone else's files, so not looked at.
CLUTTER = frozenset({".DS_Store", "lost+found", "Thumbs.db", "desktop.ini", ".gitignore"})


class NotOurDirectory(SymphonyError, PermissionError):
    """A directory that may be someone else's was not made private (``why`` says how it
    looked so; ``path`` is the directory)."""

    def __init__(self, message: str, path: Path, why: str) -> None:
        super().__init__(message)
        self.path = path
        self.why = why

    @classmethod
    def refusing(cls, path: Path, why: str, *, use: str = "", change: str = "") -> NotOurDirectory:
        """The refusal of ``path`` for ``why``, in one line that says what to do. ``use``
        says what it was to be ("the node's state directory"); ``change`` names the flag
        or setting that gives it, for the reader who must give another."""
        start = f"cannot use {path} as {use}" if use else f"refusing to make {path} private"
        tail = f" ({change})" if change else ""
        return cls(
            f"{start}: {why}; use a directory of its own, e.g. {path / 'symphony'}{tail}",
            path,
            why,
        )


def claim_private_dir(path: Path) -> Path:
    """Create directory ``path`` (0700, with :data:`MARKER`), or adopt an existing one
    that is plausibly Symphony's (see the module) and tighten it to 0700.

    Raises:
        NotOurDirectory: it exists and may be someone else's; nothing was changed.
        OSError: it cannot be created or written (a read-only file system, say).
    """
    path = Path(path)
    try:
        path.mkdir(mode=0o700, parents=True)
    except FileExistsError:
        if not path.is_dir():
            file = "it is a file, not a directory"
            raise FileExistsError(errno.EEXIST, file, str(path)) from None
        why = why_not_ours(path)
        if why is not None:
            raise NotOurDirectory.refusing(path, why) from None
    _mark(path)
    _tighten(path)
    return path


def why_not_ours(path: Path) -> str | None:
    """Why the existing directory ``path`` may not be Symphony's to make private, in a
    few words; None when it may be (or when it does not exist: it would be made)."""
    try:
        info = path.stat()
    except (FileNotFoundError, NotADirectoryError):
        return None
    if not stat.S_ISDIR(info.st_mode):
        return None  # a file: the caller's mkdir says so
    mode = stat.S_IMODE(info.st_mode)
    # Only a chmod needs the owner: one already private to its owner is used as it is
    # (a network file system or sudo shows the one Symphony made as another user's).
    if mode & 0o077 and info.st_uid != os.geteuid():
        return _theirs(info.st_uid)
    if mode & (stat.S_ISVTX | stat.S_IWOTH):
        return f"it is shared with every user (mode {mode:o})"
    try:
        names = os.listdir(path)
    except PermissionError:
        if info.st_uid == os.geteuid():
            raise
        return _theirs(info.st_uid)  # another user's private directory, and not ours to read
    found = set(names) - CLUTTER
    if not found or MARKER in found or found & SIGNATURE or found <= OURS:
        return None
    others = sorted(found - OURS)
    shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
    return f"it holds files that are not Symphony's ({shown})"


def _theirs(uid: int) -> str:
    import pwd

    try:
        user = pwd.getpwuid(uid).pw_name
    except KeyError:
        user = f"uid {uid}"
    return f"it belongs to another user ({user})"


def _mark(path: Path) -> None:
    # O_EXCL: a marker already there (ours, or a concurrent start's) is left as it is.
    try:
        fd = os.open(path / MARKER, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return
    try:
        os.write(fd, _MARKER_TEXT)
    finally:
        os.close(fd)


def _tighten(path: Path) -> None:
    current = stat.S_IMODE(os.stat(path).st_mode)
    if current & 0o077:
        # A directory made by an older release (0755) or by hand: nobody else's, above.
        log.info("tightening %s from mode %o to 700", path, current)
        os.chmod(path, current & 0o700)
