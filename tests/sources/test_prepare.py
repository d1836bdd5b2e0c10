"""Putting a job's code in place on the node: fetch, verify, cache, unpack, once."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import trio

from symphony.node.sources import SourceError, SourcePreparer
from symphony.wire import JobConfig, JobGit

from .helpers import APP, bare_repo, http_server, sha256, tar_gz, zip_file


def _preparer(tmp: Path, cap: int = 1 << 24) -> SourcePreparer:
    return SourcePreparer(cache_dir=str(tmp / "cache"), cache_max_bytes=cap)


def _job(**config: object) -> JobConfig:
    return JobConfig(command=("python3", "main.py"), **config)  # type: ignore[arg-type]


async def test_prepare_http_image_verified_cached_and_shared(tmp_path: Path) -> None:
    site = tmp_path / "site"
    site.mkdir()
    archive = tar_gz(site / "image.tar.gz")
    said: list[str] = []
    with http_server(site) as server:
        sources = _preparer(tmp_path)
        job = _job(image=f"{server.url}/image.tar.gz", sha256=sha256(archive))
        async with trio.open_nursery() as nursery:  # three replicas start together
            for i in range(3):
                nursery.start_soon(sources.prepare, job, str(tmp_path / f"w{i}"), said.append)
        assert server.requests == ["/image.tar.gz"]  # one download for all three
        for i in range(3):
            assert (tmp_path / f"w{i}" / "main.py").read_text() == APP["main.py"]
        # Another instance later: from the cache, no request.
        await sources.prepare(job, str(tmp_path / "w3"), said.append)
        assert len(server.requests) == 1 and sources.downloads == 1
    assert "downloading the image" in said


async def test_prepare_once_per_instance_keeps_what_the_job_wrote(tmp_path: Path) -> None:
    archive = zip_file(tmp_path / "app.zip")
    sources = _preparer(tmp_path)
    job = _job(image=f"file://{archive}")
    work = tmp_path / "work" / "web-0"
    await sources.prepare(job, str(work), print)
    (work / "state.db").write_text("written by the job")
    await sources.prepare(job, str(work), print)  # a restart of the instance
    assert (work / "state.db").read_text() == "written by the job"
    # A new agent (a new preparer on the same cache) finds it ready too.
    await _preparer(tmp_path).prepare(job, str(work), print)
    assert (work / "state.db").exists()


async def test_prepare_bad_sources_fail_with_the_reason_and_leave_nothing(
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    archive = tar_gz(site / "image.tar.gz")
    (site / "corrupt.tar.gz").write_bytes(archive.read_bytes()[:40])
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        closed = s.getsockname()[1]
    with http_server(site) as server:
        cases = {
            "answered 404": _job(image=f"{server.url}/missing.zip"),
            "sha256 mismatch": _job(image=f"{server.url}/image.tar.gz", sha256="0" * 64),
            "corrupt": _job(image=f"{server.url}/corrupt.tar.gz"),
            "failed": _job(image=f"http://127.0.0.1:{closed}/image.tar.gz"),
            "cannot read": _job(image=f"file://{tmp_path}/nothing.zip"),
        }
        for reason, job in cases.items():
            work = tmp_path / "work" / "inst"
            with pytest.raises(SourceError, match=reason):
                await _preparer(tmp_path).prepare(job, str(work), print)
            assert not work.exists(), reason
            left = os.listdir(work.parent) if work.parent.exists() else []
            assert left == [], reason
        # Larger than the node's cache: refused before it is all read.
        small = _preparer(tmp_path / "small", cap=64)
        with pytest.raises(SourceError, match="larger than the node's cache"):
            await small.prepare(_job(image=f"{server.url}/image.tar.gz"), str(work), print)
        assert not work.exists()


async def test_prepare_cache_evicts_least_recently_used(tmp_path: Path) -> None:
    archives = [tar_gz(tmp_path / f"a{i}.tar.gz", {"f": os.urandom(3000).hex()}) for i in range(3)]
    size = max(a.stat().st_size for a in archives)
    sources = _preparer(tmp_path, cap=2 * size + 10)
    for i, archive in enumerate(archives):
        job = _job(image=f"file://{archive}", sha256=sha256(archive))
        await sources.prepare(job, str(tmp_path / f"w{i}"), print)
        os.utime(sources.cache.dir + f"/sha256-{sha256(archive)}", (i, i))  # order of use
        sources.cache.evict()
    kept = sorted(os.listdir(sources.cache.dir))
    assert f"sha256-{sha256(archives[0])}" not in kept  # the oldest went
    assert sources.cache.total() <= 2 * size + 10


async def test_prepare_git_commit_shallow_and_cached(tmp_path: Path) -> None:
    bare, commit = bare_repo(tmp_path)
    sources = _preparer(tmp_path)
    job = _job(git=JobGit(repo=f"file://{bare}", ref="main", commit=commit))
    await sources.prepare(job, str(tmp_path / "w0"), print)
    assert (tmp_path / "w0" / "main.py").read_text() == APP["main.py"]
    bare.rename(tmp_path / "gone.git")  # the second replica needs no repository
    await sources.prepare(job, str(tmp_path / "w1"), print)
    assert (tmp_path / "w1" / "pkg" / "data.txt").exists()
    missing = _job(git=JobGit(repo=f"file://{bare}", ref="main", commit="1" * 40))
    with pytest.raises(SourceError, match="git fetch"):
        await sources.prepare(missing, str(tmp_path / "w2"), print)
    assert not (tmp_path / "w2").exists()
