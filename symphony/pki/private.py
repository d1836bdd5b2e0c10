"""Private files and directories: created 0600/0700 from their first byte, or tightened.

Kept apart from :mod:`symphony.pki.files` (the conductor's certificate directory) so that
a process that only needs these helpers, such as a node agent with its own state
directory, does not load ``cryptography`` for them (several MiB of resident memory).
"""

from __future__ import annotations

import logging
import os
import secrets
import stat
from pathlib import Path

from symphony.owndir import claim_private_dir
from symphony.wire.errors import CertificateError

__all__ = [
    "check_private",
    "ensure_private_dir",
    "restrict",
    "restrict_file",
    "write_new",
    "write_private_file",
]

log = logging.getLogger("symphony.pki")


def write_new(path: Path, data: bytes, mode: int) -> None:
    # Write a temporary file created with its final mode, then hard-link it into
    # place: link() fails if the name exists, so we never overwrite, and the real
    # name only ever points at complete content.
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.link(tmp, path)
    except FileExistsError:
        raise CertificateError(
            f"{path} appeared while it was being generated; is another conductor "
            "initialising this directory?"
        ) from None
    finally:
        tmp.unlink(missing_ok=True)


def write_private_file(path: Path, data: bytes) -> None:
    """Create ``path`` with mode 0600 holding ``data``; never overwrites an existing file."""
    write_new(path, data, 0o600)


def ensure_private_dir(path: Path) -> Path:
    """Create directory ``path`` with mode 0700, or tighten an existing one to 0700 when
    it is plausibly Symphony's own (:func:`symphony.owndir.claim_private_dir`).

    State directories hold what nobody else should read: the database (specs with
    their env values, join tokens' hashes), keys, the API token. A directory created
    by an older version (or by hand) with 0755 is tightened here, at every start; one
    that may be someone else's (``/tmp``, a shared project directory) is refused with
    :class:`~symphony.owndir.NotOurDirectory` and left as it was.
    """
    return claim_private_dir(path)


def restrict_file(path: Path) -> None:
    """Tighten an existing file to 0600 (a missing file is fine: nothing to do)."""
    restrict(path, 0o600)


def restrict(path: Path, mode: int) -> None:
    """``chmod`` ``path`` to ``mode`` if it grants more (a missing path is left alone)."""
    try:
        current = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        return
    if current & ~mode:
        log.info("tightening %s from mode %o to %o", path, current, mode)
        os.chmod(path, current & mode)


def check_private(path: Path) -> None:
    mode = stat.S_IMODE(path.stat().st_mode)
    if mode & 0o077:
        log.warning(
            "private key %s has mode %o; it should be 0600 (chmod 600 %s)", path, mode, path
        )
