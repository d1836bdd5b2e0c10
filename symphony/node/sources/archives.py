"""Unpacking an archive safely: zip, tar, tar.gz and tar.zst, by their first bytes.

An archive comes from whoever may submit specs, so every entry is checked before
anything is written: no absolute path, no ``..``, no link pointing out of the directory
(by its text, and resolved through the links unpacked before it), no entry placed
outside through such links, no device or fifo, and the sizes the entries declare stay
under ``max_bytes`` in all (a size bomb stops at the first entry past the cap, before it
is written). Everything is unpacked into a fresh temporary directory beside the
destination and renamed into place at the end, so a failure leaves nothing
half-unpacked behind.

    >>> unpack("/tmp/app.tar.gz", "/tmp/work/web-0", max_bytes=2**30)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import os
import shutil
import stat
import tempfile
from collections.abc import Iterator
from typing import IO, TYPE_CHECKING

from symphony.archivekind import HEAD_BYTES, archive_kind
from symphony.errors import SymphonyError

if TYPE_CHECKING:
    import tarfile

# tarfile and zipfile are imported by the unpacking itself: a node agent that never
# unpacks an archive keeps neither (tarfile with grp and pwd is about 0.4 MiB).

#: Most entries one archive may hold.
MAX_ENTRIES = 200_000
_CHUNK = 1 << 20


class ArchiveError(SymphonyError):
    """The archive is corrupt, of an unknown format, or breaks a safety rule."""


def sniff(path: str) -> str:
    """``"zip"``, ``"tar"``, ``"tar.gz"`` or ``"tar.zst"``, from the file's first bytes."""
    with open(path, "rb") as f:
        kind = archive_kind(f.read(HEAD_BYTES))
    if kind is None:
        raise ArchiveError("not a zip, tar, tar.gz or tar.zst archive")
    return kind


def unpack(archive: str, dest: str, *, max_bytes: int) -> None:
    """Unpack ``archive`` into ``dest`` (which must not exist yet), all or nothing."""
    kind = sniff(archive)
    parent = os.path.dirname(os.path.abspath(dest))
    os.makedirs(parent, mode=0o700, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=".unpack-", dir=parent)
    try:
        if kind == "zip":
            _unzip(archive, tmp, max_bytes)
        else:
            _untar(archive, kind, tmp, max_bytes)
        os.chmod(tmp, 0o700)
        os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _safe_name(name: str) -> str:
    """The entry's path relative to the root, or ArchiveError."""
    if "\0" in name:
        raise ArchiveError(f"entry {name[:100]!r}: NUL in its name")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":"):
        raise ArchiveError(f"entry {name[:100]!r}: absolute paths are not allowed")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise ArchiveError(f"entry {name[:100]!r}: '..' is not allowed")
    return "/".join(parts)


def _link_inside(root: str, name: str, target: str) -> None:
    """A symbolic link at ``name`` pointing to ``target`` must stay inside ``root``, as
    its text reads (checked before anything is written)."""
    if target.startswith("/"):
        raise ArchiveError(f"link {name[:100]!r} -> {target[:100]!r}: points outside")
    where = os.path.normpath(os.path.join(os.path.dirname(name), target))
    if where == ".." or where.startswith("../"):
        raise ArchiveError(f"link {name[:100]!r} -> {target[:100]!r}: points outside")


def _resolves_inside(real_root: str, path: str, name: str) -> None:
    """``path`` (an entry's place under the root, or a link's target), resolved through
    the links already unpacked, must be inside the root (``real_root``: resolved once).

    A link's text alone is not enough: with ``d -> .`` unpacked, ``d/d/../..`` reads as
    ``.`` but climbs two levels above ``d`` on disk, and an entry written "into" a link
    to it would land outside. The checks then go by what the disk holds.
    """
    real = os.path.realpath(path)
    if real != real_root and not real.startswith(real_root + os.sep):
        raise ArchiveError(f"entry {name[:100]!r}: points outside the destination")


class _Budget:
    def __init__(self, max_bytes: int) -> None:
        self.left = max_bytes
        self.max_bytes = max_bytes
        self.entries = 0

    def take(self, size: int, name: str) -> None:
        self.entries += 1
        if self.entries > MAX_ENTRIES:
            raise ArchiveError(f"more than {MAX_ENTRIES} entries")
        self.left -= size
        if self.left < 0:
            raise ArchiveError(
                f"unpacks to more than {self.max_bytes} bytes (at {name[:100]!r}): "
                "over the node's cap"
            )


def _copy(src: IO[bytes], path: str, size: int, mode: int) -> None:
    """Write at most ``size`` bytes (one more means the entry lied about its size)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "xb") as out:
        left = size + 1
        while chunk := src.read(min(_CHUNK, left)):
            left -= len(chunk)
            if left <= 0:
                raise ArchiveError(f"entry {path!r} is larger than it declares")
            out.write(chunk)
    os.chmod(path, (mode & 0o777) | 0o600)


def _unzip(archive: str, root: str, max_bytes: int) -> None:
    import zipfile

    budget = _Budget(max_bytes)
    real_root = os.path.realpath(root)  # once: each entry's checks resolve against it
    try:
        with zipfile.ZipFile(archive) as zf:
            for info in zf.infolist():
                name = _safe_name(info.filename)
                mode = info.external_attr >> 16
                budget.take(info.file_size, name)
                if not name:
                    continue
                path = os.path.join(root, name)
                _resolves_inside(real_root, os.path.dirname(path), name)  # through links
                if info.is_dir():
                    _resolves_inside(real_root, path, name)
                    os.makedirs(path, exist_ok=True)
                elif stat.S_ISLNK(mode):
                    target = zf.read(info)[:4096].decode("utf-8", "replace")
                    _link_inside(root, name, target)
                    link_to = os.path.join(os.path.dirname(path), target)
                    _resolves_inside(real_root, link_to, name)
                    os.makedirs(os.path.dirname(path), exist_ok=True)
                    os.symlink(target, path)
                else:
                    with zf.open(info) as src:
                        _copy(src, path, info.file_size, mode or 0o644)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError) as error:
        raise ArchiveError(f"corrupt zip archive: {error}") from None
    except FileExistsError as error:
        raise ArchiveError(f"entry {error.filename!r} appears twice") from None


def _tar_members(tar: tarfile.TarFile, root: str, budget: _Budget) -> Iterator[tarfile.TarInfo]:
    for member in tar:
        name = _safe_name(member.name)
        budget.take(member.size if member.isfile() else 0, name)
        if member.issym():
            _link_inside(root, name, member.linkname)
        elif member.islnk():
            _safe_name(member.linkname)  # a hard link names another entry of the archive
        elif not (member.isfile() or member.isdir()):
            raise ArchiveError(f"entry {name[:100]!r}: devices and fifos are not allowed")
        if name:
            yield member


def _untar(archive: str, kind: str, root: str, max_bytes: int) -> None:
    import tarfile

    budget = _Budget(max_bytes)
    try:
        with contextlib.ExitStack() as stack, _open_tar(archive, kind, stack) as tar:
            for member in _tar_members(tar, root, budget):
                # The "data" filter repeats the checks above (defence in depth) and drops
                # set-uid bits and ownership.
                tar.extract(member, root, filter="data")
    except (tarfile.TarError, EOFError, OSError, ValueError) as error:
        if isinstance(error, ArchiveError):
            raise
        if isinstance(error, tarfile.FilterError):  # a rule broken, not a corrupt file
            # Its own words name the node's directories: not for whoever sent it.
            why = (
                "a special file"
                if isinstance(error, tarfile.SpecialFileError)
                else ("points outside the destination")
            )
            raise ArchiveError(f"entry {error.tarinfo.name[:100]!r}: {why}") from None
        raise ArchiveError(f"corrupt {kind} archive: {error}") from None


def _open_tar(archive: str, kind: str, stack: contextlib.ExitStack) -> tarfile.TarFile:
    import tarfile

    if kind != "tar.zst":
        return tarfile.open(archive, mode="r:gz" if kind == "tar.gz" else "r:")
    try:
        import zstandard
    except ImportError:
        raise ArchiveError("tar.zst needs the 'zstandard' package on the node") from None
    raw = stack.enter_context(open(archive, "rb"))  # noqa: SIM115 (the stack closes it)
    stream = stack.enter_context(zstandard.ZstdDecompressor().stream_reader(raw))
    return tarfile.open(fileobj=stream, mode="r|")
