"""Files of deleted records, kept to hold the next ones: no new inode per record.

The node monitor writes a record file per run when the run starts and deletes it once
the agent has seen the run end. On ext4 a file's creation looks for a free inode, and
after many deletions (the records of a burst's runs, acknowledged together) it searches
past the inodes freed recently, reading their blocks: in a ``perf`` profile of the
monitor during bursts of 100 starts (``python -m benchmarks.monitor_starts``), about a
third of its CPU was that search, in ``ext4_create``.

So a record file that is deleted is renamed into a directory of spares instead
(:meth:`SpareFiles.keep`), and a new record is written into a spare and renamed to its
own name (:meth:`SpareFiles.take`): two renames, no inode found or freed. A spare's
name is not a record's (``<run id>.free``, in a directory of its own), so a reader of
the records never sees one, and a spare is renamed to a record's name only once it
holds that record whole. At most :data:`SPARES_KEPT` are kept: past that a record is
deleted as before. A monitor that starts takes over the spares an earlier one left.

:meth:`SpareFiles.keep` is called from the monitor's fsync thread (:mod:`.syncer`),
:meth:`SpareFiles.take` from its loop: they share one list, whose ``append`` and
``pop`` are each atomic (the thread also makes the spares' directory, once).

A spare is overwritten in place and renamed, and nothing fsyncs it: after a crash of
the machine, a record's name may hold the spare's old text, another run's record.
:meth:`.runstore.RunStore.load_all` deletes a record whose run is not its name.
"""

from __future__ import annotations

import contextlib
import os

#: Spare files kept at most: a burst of starts larger than this creates files again.
SPARES_KEPT = 256
#: How a spare's name ends.
SPARE_SUFFIX = ".free"


class SpareFiles:
    """The spare files in ``directory`` (made when the first is kept)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        self._free: list[str] = []
        try:
            names = os.listdir(directory)
        except FileNotFoundError:
            self._made = False
            return
        self._made = True
        for name in names:  # an earlier monitor's
            path = os.path.join(directory, name)
            if name.endswith(SPARE_SUFFIX) and len(self._free) < SPARES_KEPT:
                self._free.append(path)
            else:
                with contextlib.suppress(OSError):
                    os.unlink(path)

    def keep(self, path: str, name: str) -> bool:
        """Move the file at ``path`` (a deleted record) among the spares, as ``name``
        (unique: a run id). False if there is no room (or no file): delete it then."""
        if len(self._free) >= SPARES_KEPT:
            return False
        spare = os.path.join(self.directory, name + SPARE_SUFFIX)
        try:
            if not self._made:
                os.makedirs(self.directory, mode=0o700, exist_ok=True)
                self._made = True
            os.rename(path, spare)
        except OSError:
            return False
        self._free.append(spare)
        return True

    def take(self) -> str | None:
        """A spare's path, now the caller's to write and rename (None: none left)."""
        try:
            return self._free.pop()
        except IndexError:
            return None
