"""Unpacking archives from strangers: every trick is refused, nothing is left behind."""

from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
from pathlib import Path

import pytest

from symphony.node.sources.archives import ArchiveError, unpack

from .helpers import APP, tar_gz, zip_file

CAP = 1 << 20


def _tar(path: Path, *members: tuple[tarfile.TarInfo, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for info, data in members:
            info.size = len(data) if info.isfile() else 0
            tar.addfile(info, io.BytesIO(data) if info.isfile() else None)
    return path


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname, info.mode = kind, link, 0o644
    return info


def _refused(archive: Path, dest: Path, match: str) -> None:
    with pytest.raises(ArchiveError, match=match):
        unpack(str(archive), str(dest), max_bytes=CAP)
    assert not dest.exists()
    assert [p.name for p in dest.parent.iterdir() if p.name.startswith(".unpack-")] == []


@pytest.mark.parametrize("make", [tar_gz, zip_file], ids=["tar.gz", "zip"])
def test_archives_unpack_whole(tmp_path: Path, make: object) -> None:
    archive = make(tmp_path / "app", APP)  # type: ignore[operator]
    unpack(str(archive), str(tmp_path / "out"), max_bytes=CAP)
    assert (tmp_path / "out" / "main.py").read_text() == APP["main.py"]
    assert (tmp_path / "out" / "pkg" / "data.txt").read_text() == "data\n"


def test_archives_tar_zst_unpacks(tmp_path: Path) -> None:
    zstandard = pytest.importorskip("zstandard")
    plain = _tar(tmp_path / "a.tar", (_info("main.py"), b"print(1)\n"))
    packed = tmp_path / "a.tar.zst"
    packed.write_bytes(zstandard.ZstdCompressor().compress(plain.read_bytes()))
    unpack(str(packed), str(tmp_path / "out"), max_bytes=CAP)
    assert (tmp_path / "out" / "main.py").read_bytes() == b"print(1)\n"


@pytest.mark.parametrize(
    ("member", "match"),
    [
        (_info("/etc/evil"), "absolute"),
        (_info("../evil"), r"'\.\.'"),
        (_info("a/../../evil"), r"'\.\.'"),
        (_info("link", tarfile.SYMTYPE, "/etc/passwd"), "points outside"),
        (_info("a/link", tarfile.SYMTYPE, "../../x"), "points outside"),
        (_info("hard", tarfile.LNKTYPE, "../x"), r"'\.\.'"),
        (_info("dev", tarfile.CHRTYPE), "devices"),
        (_info("fifo", tarfile.FIFOTYPE), "fifos"),
    ],
    ids=["absolute", "dotdot", "nested-dotdot", "symlink-abs", "symlink-up", "hardlink",
         "device", "fifo"],
)  # fmt: skip
def test_archives_hostile_tar_refused_and_nothing_left(
    tmp_path: Path, member: tarfile.TarInfo, match: str
) -> None:
    # A good entry first: it must not stay behind when a later one is refused.
    archive = _tar(tmp_path / "bad.tar", (_info("ok.txt"), b"fine"), (member, b"x"))
    _refused(archive, tmp_path / "work" / "inst", match)
    assert not (tmp_path / "evil").exists()


def test_archives_link_inside_is_kept(tmp_path: Path) -> None:
    archive = _tar(
        tmp_path / "a.tar",
        (_info("bin/run"), b"#!/bin/sh\n"),
        (_info("run", tarfile.SYMTYPE, "bin/run"), b""),
    )
    unpack(str(archive), str(tmp_path / "out"), max_bytes=CAP)
    assert os.readlink(tmp_path / "out" / "run") == "bin/run"


def test_archives_size_bomb_stops_before_writing(tmp_path: Path) -> None:
    big = tmp_path / "bomb.tar.gz"
    with tarfile.open(big, "w:gz") as tar:  # 8 MB of zeros compress to a few KB
        info = _info("zeros")
        info.size = 8 * CAP
        tar.addfile(info, io.BytesIO(bytes(info.size)))
    assert big.stat().st_size < 100_000
    _refused(big, tmp_path / "out", "over the node's cap")


def test_archives_zip_bomb_and_zip_tricks_refused(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.zip"
    with zipfile.ZipFile(bomb, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("zeros", bytes(8 * CAP))
    _refused(bomb, tmp_path / "out", "over the node's cap")
    _refused(zip_file(tmp_path / "up.zip", {"../up": "x"}), tmp_path / "out", r"'\.\.'")
    link = tmp_path / "link.zip"
    with zipfile.ZipFile(link, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.external_attr = (stat.S_IFLNK | 0o777) << 16
        zf.writestr(info, "/etc/passwd")
    _refused(link, tmp_path / "out", "points outside")


def test_archives_corrupt_or_unknown_refused(tmp_path: Path) -> None:
    good = tar_gz(tmp_path / "good.tar.gz")
    cut = tmp_path / "cut.tar.gz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    _refused(cut, tmp_path / "out", "corrupt")
    text = tmp_path / "page.html"
    text.write_text("<html>not found</html>")
    _refused(text, tmp_path / "out", "not a zip, tar")


def _zip_links(path: Path, links: list[tuple[str, str]], files: dict[str, str]) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        for name, target in links:
            info = zipfile.ZipInfo(name)
            info.external_attr = (stat.S_IFLNK | 0o777) << 16
            zf.writestr(info, target)
        for name, text in files.items():
            zf.writestr(name, text)
    return path


#: ``d`` points at its own directory, so ``d/d/d/../../..`` reads as ``.`` but climbs out
#: on disk: a check of the link's text alone let ``a`` point above the destination, and a
#: file written "into" ``a`` then landed outside it.
DEEP = 6
CLIMB = "/".join(["d"] * DEEP + [".."] * DEEP)


def test_archives_zip_link_through_a_link_cannot_climb_out(tmp_path: Path) -> None:
    dest = tmp_path / "a" / "b" / "c" / "d" / "e" / "f" / "work" / "inst"
    archive = _zip_links(
        tmp_path / "climb.zip",
        [("d", "."), ("a", CLIMB)],
        {"a/ESCAPED.txt": "pwned\n", "main.py": "print(1)\n"},
    )
    _refused(archive, dest, "points outside")
    assert not list(tmp_path.rglob("ESCAPED.txt"))


def test_archives_tar_link_through_a_link_cannot_climb_out(tmp_path: Path) -> None:
    dest = tmp_path / "a" / "b" / "c" / "d" / "e" / "f" / "work" / "inst"
    archive = _tar(
        tmp_path / "climb.tar",
        (_info("d", tarfile.SYMTYPE, "."), b""),
        (_info("a", tarfile.SYMTYPE, CLIMB), b""),
        (_info("a/ESCAPED.txt"), b"pwned\n"),
    )
    _refused(archive, dest, "points outside the destination")
    assert not list(tmp_path.rglob("ESCAPED.txt"))
