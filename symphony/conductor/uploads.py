"""Archives uploaded to the Conductor (``symphony deploy --upload DIR``), by sha256.

A user's machine is often one no node can reach. So the CLI packs the directory and
POSTs it to the Conductor (``POST /uploads``); the spec then names it
``"image": "upload:<sha256>"``, and nodes read it from the Conductor over their own link
(:class:`~symphony.wire.UploadRead` / :class:`~symphony.wire.UploadData`, one piece at a
time), so they need no route to the user either.

Files live in ``<state_dir>/uploads/<sha256>``, written aside and renamed when complete
and checked. An upload no deployment's spec names is removed once it is a day old
(:meth:`UploadStore.prune`, run by the housekeeper): long enough to deploy it, short
enough not to fill the disk.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import time
from collections.abc import AsyncGenerator, Iterable
from pathlib import Path

from symphony.errors import SymphonyError

#: The largest archive one may upload.
MAX_UPLOAD = 2 * 2**30
#: An upload nobody references is removed after this long.
UNREFERENCED_TTL = 86_400.0
_SHA_RE = re.compile(r"[0-9a-f]{64}")
PREFIX = "upload:"


class UploadTooLarge(SymphonyError, ValueError):
    """The upload is larger than :data:`MAX_UPLOAD`."""


class UploadStore:
    """The uploads directory (see the module docstring)."""

    def __init__(self, root: Path, *, max_bytes: int = MAX_UPLOAD) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for leftover in self.root.glob(".tmp-*"):  # an upload cut short by a restart
            leftover.unlink(missing_ok=True)

    def path(self, sha256: str) -> Path | None:
        """The file of an upload, or None when there is no such upload."""
        if not _SHA_RE.fullmatch(sha256):
            return None
        path = self.root / sha256
        return path if path.is_file() else None

    async def save(self, chunks: AsyncGenerator[bytes, None]) -> tuple[str, int]:
        """Store the bytes ``chunks`` yields; returns (sha256, size). ``chunks`` is
        closed when this returns, also when it stops early (too large)."""
        digest = hashlib.sha256()
        size = 0
        tmp = self.root / f".tmp-{os.urandom(8).hex()}"
        try:
            async with contextlib.aclosing(chunks):
                with open(tmp, "wb") as out:
                    async for chunk in chunks:
                        size += len(chunk)
                        if size > self.max_bytes:
                            raise UploadTooLarge(f"an upload is at most {self.max_bytes} bytes")
                        digest.update(chunk)
                        out.write(chunk)
            sha = digest.hexdigest()
            os.replace(tmp, self.root / sha)  # the same bytes again: the same file
            return sha, size
        finally:
            tmp.unlink(missing_ok=True)

    def read(self, sha256: str, offset: int, length: int) -> tuple[bytes, int] | None:
        """``length`` bytes of an upload from ``offset`` and its size (None: no upload)."""
        path = self.path(sha256)
        if path is None:
            return None
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(length), os.fstat(f.fileno()).st_size

    def prune(
        self,
        referenced: Iterable[str],
        *,
        max_age: float = UNREFERENCED_TTL,
        now: float | None = None,
    ) -> list[str]:
        """Remove uploads older than ``max_age`` that no spec references; their digests."""
        keep = set(referenced)
        cutoff = (time.time() if now is None else now) - max_age
        removed = []
        for path in self.root.iterdir():
            if not _SHA_RE.fullmatch(path.name) or path.name in keep:
                continue
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    removed.append(path.name)
        return removed


def referenced_upload(image: str | None) -> str | None:
    """The digest an ``image`` value names, when it is an upload."""
    if image is not None and image.startswith(PREFIX):
        return image.removeprefix(PREFIX)
    return None
