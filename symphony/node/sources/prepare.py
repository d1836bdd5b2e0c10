"""Putting a job's code in its work directory, once per instance, and finding its env.

:meth:`SourcePreparer.prepare` makes ``<work dir>`` hold the job's ``config.image``
(unpacked) or ``config.git`` (checked out), fetched through the node's
:class:`~.cache.SourceCache`. A note beside the work directory (``<work dir>.source``)
records which source it holds, so a restart of the instance (or of the agent) finds it
ready and does nothing: the job keeps what it wrote there. A failure leaves no work
directory behind, and the instance fails with the reason (see ``docs/jobs.md``).
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections.abc import Callable

import trio

from symphony.errors import SymphonyError
from symphony.wire import JobConfig
from symphony.wire.jobspec import ENV_NAME

from ..uploadlink import UploadReadError, UploadReads
from .archives import ArchiveError, unpack
from .cache import SourceCache, remove
from .envs import NamedEnv, find_envs
from .fetch import FetchError, fetch
from .git import GitError, checkout

#: The default cap of the cache (``node.cache_max_bytes``): 10 GiB.
DEFAULT_CACHE_MAX_BYTES = 10 * 2**30
#: How much larger than the cache an unpacked archive may be (a size-bomb cap).
UNPACK_FACTOR = 4
#: Environments are looked for again at most this often (conda is slow to ask).
ENV_SCAN_INTERVAL = 15.0

log = logging.getLogger("symphony.node.sources")

SourceErrors = (ArchiveError, FetchError, GitError)


class SourceError(SymphonyError):
    """The job's code could not be put in place; the message is the instance's reason."""


class SourcePreparer:
    """A node's sources: cache, unpacking, environments (see the module docstring)."""

    def __init__(
        self,
        *,
        cache_dir: str,
        cache_max_bytes: int = DEFAULT_CACHE_MAX_BYTES,
        envs_dir: str | None = None,
        unpack_max_bytes: int | None = None,
        uploads: UploadReads | None = None,
    ) -> None:
        self.uploads = uploads  # reads ``upload:`` archives from the Conductor
        self.cache = SourceCache(cache_dir, cache_max_bytes)
        self.envs_dir = envs_dir
        self.unpack_max_bytes = unpack_max_bytes or cache_max_bytes * UNPACK_FACTOR
        self._envs: dict[str, NamedEnv] = {}
        self._odd_envs: set[str] = set()  # names found that are not environment names
        self._scanned_at = -float("inf")
        self._scan_lock = trio.Lock()
        self._digests: dict[str, tuple[str, float]] = {}  # url -> (digest, when fetched)
        self.downloads = 0  # archives fetched (not found in the cache)

    # ---- environments ----------------------------------------------------------------
    async def envs(self, *, fresh: bool = False) -> dict[str, NamedEnv]:
        """The node's named environments (scanned again past ``ENV_SCAN_INTERVAL``)."""
        async with self._scan_lock:
            now = trio.current_time()
            if fresh or now - self._scanned_at >= ENV_SCAN_INTERVAL:
                found = await find_envs(self.envs_dir)
                # One odd directory (``my env``, ``_old``) in a hello or a heartbeat got
                # every frame refused, keeping the node off the cluster; no job can name
                # it anyway. Left out, and said once.
                self._envs = {name: e for name, e in found.items() if ENV_NAME.matches(name)}
                odd = found.keys() - self._envs.keys() - self._odd_envs
                if odd:
                    self._odd_envs |= odd
                    listed = ", ".join(map(repr, sorted(odd)))
                    log.warning("environments left out (not environment names): %s", listed)
                self._scanned_at = now
            return self._envs

    async def env(self, name: str) -> NamedEnv:
        found = (await self.envs()).get(name) or (await self.envs(fresh=True)).get(name)
        if found is None:
            raise SourceError(f"environment {name!r} not found on this node")
        return found

    # ---- code ------------------------------------------------------------------------
    async def prepare(self, config: JobConfig, work_dir: str, say: Callable[[str], None]) -> None:
        """Make ``work_dir`` hold the job's code (no-op when it does already)."""
        key = _source_key(config)
        if key is None:
            return
        note = f"{work_dir}.source"
        if os.path.isdir(work_dir) and _read(note) == key:
            return
        remove(work_dir)
        remove(note)
        try:
            if config.git is not None:
                await self._from_git(config.git.repo, config.git.commit, work_dir, say)
            else:
                assert config.image is not None
                await self._from_archive(config.image, config.sha256, work_dir, say)
        except SourceErrors as error:
            remove(work_dir)
            raise SourceError(str(error)) from None
        with open(note, "w") as f:
            f.write(key)

    async def _from_archive(
        self, url: str, sha256: str | None, work_dir: str, say: Callable[[str], None]
    ) -> None:
        if url.startswith("upload:"):  # an upload is named by its digest
            sha256 = sha256 or url.removeprefix("upload:")
        digest = sha256 or await self._fetch_unverified(url, say)
        async with self.cache.entry(f"sha256-{digest}") as entry:
            if not entry.exists():
                tmp = entry.tmp_path()
                try:
                    got = await self._download(url, tmp, say)
                    if got != digest:
                        raise FetchError(f"sha256 mismatch: expected {digest}, got {got}")
                    entry.commit(tmp)
                finally:
                    remove(tmp)
            say("unpacking the image")
            await trio.to_thread.run_sync(
                lambda: unpack(entry.path, work_dir, max_bytes=self.unpack_max_bytes)
            )

    async def _fetch_unverified(self, url: str, say: Callable[[str], None]) -> str:
        """Download an archive named without its digest into the cache; its digest.

        Instances starting together share the download (the lock per URL); a later
        instance fetches again, since what a URL names may change."""
        url_key = "url-" + hashlib.sha256(url.encode()).hexdigest()[:32]
        async with self.cache.entry(url_key) as holder:
            recent = self._digests.get(url)
            if recent is not None and time.monotonic() - recent[1] < 60:
                return recent[0]
            tmp = holder.tmp_path()
            try:
                digest = await self._download(url, tmp, say)
                async with self.cache.entry(f"sha256-{digest}") as entry:
                    if not entry.exists():
                        entry.commit(tmp)
            finally:
                remove(tmp)
            self._digests[url] = (digest, time.monotonic())
            return digest

    async def _download(self, url: str, path: str, say: Callable[[str], None]) -> str:
        self.downloads += 1
        shown = [0.0]

        def progress(done: int, total: int | None) -> None:
            now = time.monotonic()
            if now - shown[0] >= 1.0:
                shown[0] = now
                of = f" of {total / 1e6:.1f}" if total else ""
                say(f"downloading the image: {done / 1e6:.1f}{of} MB")

        say("downloading the image")
        max_bytes = self.cache.max_bytes
        if not url.startswith("upload:"):
            return await fetch(url, path, max_bytes=max_bytes, on_progress=progress)
        if self.uploads is None:
            raise FetchError("this node cannot read uploads (no link to the conductor)")
        try:
            sha = url.removeprefix("upload:")
            return await self.uploads.fetch(sha, path, max_bytes=max_bytes, on_progress=progress)
        except UploadReadError as error:
            raise FetchError(f"reading the upload from the conductor: {error}") from None

    async def _from_git(
        self, repo: str, commit: str, work_dir: str, say: Callable[[str], None]
    ) -> None:
        async with self.cache.entry(f"git-{commit}") as entry:
            if not entry.exists():
                say(f"cloning {repo} at {commit[:12]}")
                tmp = entry.tmp_path()
                try:
                    await checkout(repo, commit, tmp)
                    entry.commit(tmp)
                finally:
                    remove(tmp)
            tmp = f"{work_dir}.tmp-{os.urandom(4).hex()}"
            try:
                await trio.to_thread.run_sync(
                    lambda: shutil.copytree(entry.path, tmp, symlinks=True)
                )
                os.rename(tmp, work_dir)
            finally:
                remove(tmp)


def _source_key(config: JobConfig) -> str | None:
    if config.git is not None:
        return f"git {config.git.repo} {config.git.commit}"
    if config.image is not None:
        return f"image {config.image} {config.sha256 or ''}"
    return None


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return None
