"""Packing a directory into a tar.gz for ``symphony deploy --upload DIR``.

Entries are stored relative to DIR (``main.py``, ``pkg/data.txt``), owned by nobody in
particular (uid/gid 0, no names), so the archive is the same wherever it is made. Links
are kept as links; one pointing out of DIR would be refused by the node, so it is
refused here first, with its name.
"""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

from ._errors import CLIError

#: The largest archive the Conductor takes (``POST /uploads``).
MAX_ARCHIVE = 2 * 2**30


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def pack_directory(directory: str) -> bytes:
    """``directory`` as tar.gz bytes, or CLIError."""
    root = Path(directory)
    if not root.exists():
        raise CLIError(f"--upload {directory}: no such directory")
    if not root.is_dir():
        raise CLIError(f"--upload {directory}: is a file, not a directory (give its directory)")
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for top, dirs, files in os.walk(root):
            dirs.sort()
            for name in sorted(dirs) + sorted(files):
                path = Path(top) / name
                rel = path.relative_to(root).as_posix()
                if path.is_symlink():
                    target = os.path.normpath(os.path.join(os.path.dirname(rel), os.readlink(path)))
                    if os.path.isabs(os.readlink(path)) or target.startswith(".."):
                        raise CLIError(f"--upload: {rel} links out of {directory}")
                tar.add(path, arcname=rel, recursive=False, filter=_anonymous)
                if buffer.tell() > MAX_ARCHIVE:
                    raise CLIError(f"--upload {directory}: more than {MAX_ARCHIVE} bytes packed")
    return buffer.getvalue()
