"""What kind of archive a file's first bytes say it is: zip, tar, tar.gz or tar.zst.

Shared by the Conductor, which takes an upload only if it is one of these, and the node,
which unpacks them (:mod:`symphony.node.sources.archives`); kept apart so that the
Conductor imports nothing of the node for it.

>>> archive_kind(b"PK\\x03\\x04...")
'zip'
>>> archive_kind(b"<html>") is None
True
"""

from __future__ import annotations

__all__ = ["HEAD_BYTES", "archive_kind"]

#: Bytes of an archive's head that tell its kind (a tar's magic ends at 262).
HEAD_BYTES = 262


def archive_kind(head: bytes) -> str | None:
    """``"zip"``, ``"tar"``, ``"tar.gz"`` or ``"tar.zst"`` for an archive beginning with
    ``head`` (its first :data:`HEAD_BYTES`, or all of a shorter one); None: none of them."""
    if head.startswith((b"PK\x03\x04", b"PK\x05\x06")):
        return "zip"
    if head.startswith(b"\x1f\x8b"):
        return "tar.gz"
    if head.startswith(b"\x28\xb5\x2f\xfd"):
        return "tar.zst"
    if len(head) >= HEAD_BYTES and head[257:262] == b"ustar":
        return "tar"
    return None
