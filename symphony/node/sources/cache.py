"""The node's cache of fetched code: archives by sha256, git checkouts by commit.

Entries live under ``<dir>/<key>`` (a file or a directory); using one touches it, and
when the cache holds more than ``max_bytes`` the least recently used entries go
(never one in use right now). Work for one key is done once at a time: instances
that want the same archive wait for the first one's download and then share it.

    cache = SourceCache("/var/lib/symphony/cache", max_bytes=10 * 2**30)
    async with cache.entry("sha256-ab12...") as entry:
        if not entry.exists():
            ...  # fetch into entry.tmp_path(), then entry.commit(that path)
        use(entry.path)
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import trio


def tree_size(path: str) -> int:
    """Bytes under ``path`` (a file or a directory; links are not followed)."""
    if not os.path.isdir(path) or os.path.islink(path):
        return os.lstat(path).st_size
    total = 0
    for top, _dirs, files in os.walk(path):
        for name in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(top, name)).st_size
    return total


def remove(path: str) -> None:
    """Delete a file or a directory tree (gone already is fine)."""
    if os.path.isdir(path) and not os.path.islink(path):
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)


@dataclass
class Entry:
    """One key of the cache, held by the caller for the duration of ``entry()``."""

    cache: SourceCache
    key: str
    path: str

    def exists(self) -> bool:
        return os.path.lexists(self.path)

    def tmp_path(self) -> str:
        """A fresh path beside the entry (removed if never committed)."""
        return os.path.join(self.cache.dir, f".tmp-{self.key}-{os.urandom(4).hex()}")

    def commit(self, tmp: str) -> None:
        """Make ``tmp`` the entry, then evict older entries beyond the cap."""
        remove(self.path)
        os.rename(tmp, self.path)
        self.cache.sizes[self.key] = tree_size(self.path)
        self.cache.evict()


@dataclass
class SourceCache:
    """See the module docstring."""

    dir: str
    max_bytes: int
    sizes: dict[str, int] = field(default_factory=dict)
    _locks: dict[str, trio.Lock] = field(default_factory=dict)
    _in_use: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        for name in os.listdir(self.dir):
            path = os.path.join(self.dir, name)
            if name.startswith(".tmp-"):
                remove(path)  # left by a download cut short (the agent died)
            else:
                self.sizes[name] = tree_size(path)

    @contextlib.asynccontextmanager
    async def entry(self, key: str) -> AsyncIterator[Entry]:
        """Hold ``key``: one holder at a time, and it is not evicted while held."""
        lock = self._locks.setdefault(key, trio.Lock())
        self._in_use[key] = self._in_use.get(key, 0) + 1
        try:
            async with lock:
                entry = Entry(self, key, os.path.join(self.dir, key))
                if entry.exists():
                    with contextlib.suppress(OSError):
                        os.utime(entry.path, follow_symlinks=False)  # most recently used
                yield entry
        finally:
            self._in_use[key] -= 1
            if not self._in_use[key]:
                del self._in_use[key]
                if not lock.locked() and lock.statistics().tasks_waiting == 0:
                    self._locks.pop(key, None)

    def total(self) -> int:
        return sum(self.sizes.values())

    def evict(self) -> list[str]:
        """Remove least recently used entries not in use until under the cap."""
        removed: list[str] = []
        if self.total() <= self.max_bytes:
            return removed

        def used_at(key: str) -> float:
            try:
                return os.lstat(os.path.join(self.dir, key)).st_mtime
            except OSError:
                return 0.0

        for key in sorted(self.sizes, key=used_at):
            if self.total() <= self.max_bytes:
                break
            if key in self._in_use:
                continue
            remove(os.path.join(self.dir, key))
            del self.sizes[key]
            removed.append(key)
        return removed
