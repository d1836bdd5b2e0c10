"""A directory of Symphony's own: made private (0700), or refused when it may not be ours.

Symphony keeps what nobody else should read (the database, keys, the API token, job
logs) in directories it keeps private, mode 0700. For a directory that already exists
that means a ``chmod``; done to one that is not Symphony's (``--state-dir /tmp``, a
project directory shared with colleagues) it would lock every other user out of it, and
Symphony's files would then lie beside theirs. So :func:`claim_private_dir` creates a
missing directory, and tightens an existing one only when it is plausibly Symphony's:

- it belongs to this process's user;
- nobody else may write in it: it is neither sticky (``/tmp``'s mode 1777) nor
  writable by every user;
- it is empty, or holds the marker file :data:`MARKER` (which Symphony writes into every
  directory it makes or adopts), or (made by a release older than the marker) holds
  Symphony's own files: one of :data:`SIGNATURE`, or nothing but :data:`OURS`.

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

__all__ = ["MARKER", "NotOurDirectory", "claim_private_dir", "why_not_ours"]

log = logging.getLogger(__name__)

#: Written (0600) into every directory Symphony makes or adopts: what says "ours" later.
MARKER = ".symphony-dir"
_MARKER_TEXT = b"Symphony keeps private state here (mode 0700); it made or adopted it.\n"

#: Files only Symphony names so: one of them marks a directory made by an older release
#: (the Conductor's state and certificates, a Node's state, `symphony up`'s node keys,
#: the experiment a program last chose).
SIGNATURE = frozenset(
    {
        *("symphony.db", "symphony.db-wal", "symphony.db-shm", "api-token", "secrets.key"),
        *("conductor.json", "conductor.lock", "conductor-id", "node.lock", "incarnation"),
        *("ca.pem", "ca.key", "server.pem", "server.key", "node-client.pem", "node-client.key"),
        *("node.pem", "node.key", "current-experiment.json"),
    }
)
#: Every name Symphony gives an entry of its directories: too common to mark one alone
#: (a project has ``jobs/`` or ``cache/`` of its own), but a directory holding nothing
#: else is an older release's (a Node's from before its lock file: ``cache``, ``jobs``).
OURS = SIGNATURE | {MARKER, "cache", "jobs", "identity", "certs", "uploads", "node"}


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
    if info.st_uid != os.geteuid():  # before listing it: we may not be allowed to
        return f"it belongs to another user ({_user(info.st_uid)})"
    mode = stat.S_IMODE(info.st_mode)
    if mode & (stat.S_ISVTX | stat.S_IWOTH):
        return f"it is shared with every user (mode {mode:o})"
    names = os.listdir(path)
    found = set(names)
    if not found or MARKER in found or found & SIGNATURE or found <= OURS:
        return None
    others = sorted(found - OURS)
    shown = ", ".join(others[:3]) + (", ..." if len(others) > 3 else "")
    return f"it holds files that are not Symphony's ({shown})"


def _user(uid: int) -> str:
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


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
