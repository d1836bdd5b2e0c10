"""Deleting the logs of instances this node no longer holds: by age, then by a total.

A stopped or forgotten instance leaves ``<state_dir>/logs/<instance_id>/`` behind (see
:mod:`.logfiles`). The sweep deletes such a directory, an *orphan*, once its newest file
is older than the retention (default 7 days), and past a total for all orphans (default
1 GiB) the oldest first, as Nomad's client collects terminal allocations' directories.

Never an instance that may run: the node *holds* an instance that is live, ended but
kept (:mod:`.ended`), being started or stopped, or that has a record (an adoption works
from the records). The records are read, then the directories measured, in a worker
thread; what is held is checked on the event loop once that is done, and the orphans
due are renamed out of the way right after (no await in between, so no start or
adoption slips in); the renamed copies are removed in a worker thread. A start after
that makes a new directory. The sweep does nothing while a lost monitor is replaced.
"""

from __future__ import annotations

import logging
import os
import shutil
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from .logfiles import check_instance_id

if TYPE_CHECKING:
    from .manager import ProcessManager

logger = logging.getLogger(__name__)

#: Orphaned logs older than this (by their newest file) are deleted; 0 keeps them.
LOG_RETENTION_SECONDS = 7 * 86400.0
#: Past this total, orphaned logs are deleted oldest first; 0 means no total.
ORPHAN_LOGS_MAX_BYTES = 2**30
#: How often the sweep runs (and once at start).
SWEEP_INTERVAL = 300.0
#: A directory being removed; never an instance id (those start with a letter or digit).
_REMOVING = ".removing-"


@dataclass(frozen=True, slots=True)
class LogDir:
    """One instance's log directory: when its newest file changed, and its size."""

    instance_id: str
    newest: float
    size: int


def measure(logs_dir: str) -> list[LogDir]:
    """Every instance's log directory under ``logs_dir`` (blocking: a worker thread)."""
    try:
        names = os.listdir(logs_dir)
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        path = os.path.join(logs_dir, name)
        if name.startswith(_REMOVING):  # left by a sweep that was cut short
            shutil.rmtree(path, ignore_errors=True)
            continue
        try:
            check_instance_id(name)
            own = os.lstat(path)
            if not stat.S_ISDIR(own.st_mode):  # a symlink is never followed, nor deleted
                continue
            newest, size = own.st_mtime, 0
            with os.scandir(path) as entries:
                for entry in entries:
                    info = entry.stat(follow_symlinks=False)
                    newest, size = max(newest, info.st_mtime), size + info.st_size
        except (ValueError, OSError):  # not an instance's directory, or gone meanwhile
            continue
        found.append(LogDir(name, newest, size))
    return found


def choose(
    orphans: Iterable[LogDir], *, now: float, retention: float, max_bytes: int
) -> list[LogDir]:
    """The orphans to delete: older than ``retention``, then the oldest past ``max_bytes``."""
    ordered = sorted(orphans, key=lambda d: d.newest)
    doomed = [d for d in ordered if retention and now - d.newest > retention]
    kept = [d for d in ordered if not (retention and now - d.newest > retention)]
    total = sum(d.size for d in kept)
    while max_bytes and total > max_bytes and kept:
        oldest = kept.pop(0)
        doomed.append(oldest)
        total -= oldest.size
    return doomed


def held(manager: ProcessManager) -> set[str]:
    """The instance ids whose logs must stay (but for those with a record): the live
    and the ended ones kept, those being started or stopped (``held_ids``)."""
    return manager.held_ids()


async def sweep(
    manager: ProcessManager,
    *,
    retention: float = LOG_RETENTION_SECONDS,
    max_bytes: int = ORPHAN_LOGS_MAX_BYTES,
    clock: Callable[[], float] = time.time,
) -> tuple[int, int]:
    """Delete the orphaned logs due; returns how many directories and bytes went."""
    if not (retention or max_bytes) or not manager.ready:
        return 0, 0
    logs_dir = os.path.join(manager.state_dir, "logs")

    def survey() -> tuple[set[str], list[LogDir]]:
        return manager.store.recorded_ids(), measure(logs_dir)

    recorded, dirs = await trio.to_thread.run_sync(survey)
    if not manager.ready:  # the monitor was lost meanwhile: what is held is unknown
        return 0, 0
    # From here to the last rename, no await: what is held now stays so until then (a
    # start that came while the thread measured is held; one that comes later finds
    # its directory gone and makes it anew). Records: read before the measuring.
    keep = held(manager) | recorded
    due = choose(
        (d for d in dirs if d.instance_id not in keep),
        now=clock(),
        retention=retention,
        max_bytes=max_bytes,
    )
    removing: list[str] = []
    count = size = 0
    for d in due:
        target = os.path.join(logs_dir, _REMOVING + d.instance_id)
        try:
            os.rename(os.path.join(logs_dir, d.instance_id), target)
        except OSError as error:
            logger.warning("cannot delete the logs of %s: %s", d.instance_id, error)
            continue
        removing.append(target)
        count, size = count + 1, size + d.size
    if removing:
        await trio.to_thread.run_sync(_remove, removing)
        logger.info(
            "deleted the logs of %d instance(s) this node no longer holds (%d bytes):"
            " older than %gs or past %d bytes of such logs",
            count,
            size,
            retention,
            max_bytes,
        )
    return count, size


def _remove(paths: list[str]) -> None:
    for path in paths:
        shutil.rmtree(path, ignore_errors=True)


async def sweep_forever(
    manager: ProcessManager,
    *,
    retention: float = LOG_RETENTION_SECONDS,
    max_bytes: int = ORPHAN_LOGS_MAX_BYTES,
    interval: float = SWEEP_INTERVAL,
) -> None:
    """Sweep now, then every ``interval`` seconds, until cancelled. Start it after the
    manager's adoption: until then the adopted instances are not held yet."""
    while True:
        try:
            await sweep(manager, retention=retention, max_bytes=max_bytes)
        except OSError as error:  # the state dir unreadable just now: the next sweep
            logger.warning("cannot sweep the logs of instances no longer held: %s", error)
        await trio.sleep(interval)
