"""The monitor's fsyncs and deletions of run records, in a thread: its loop never waits
for them.

An ended run's record is made durable (fsync of the file, then of its directory) so
that its exit code outlives a crash of the machine until the agent has seen it; once
the agent acknowledges the exit, the record is deleted. A directory fsync waits for the
filesystem's journal to commit: 1.5-2.5 ms on an idle disk here, 5-12 ms while other
processes commit to it. And while a commit writes the directory's block, any change to
that directory (the next record's creation, a deletion) waits for it too. Done in the
monitor's loop after every restart, those waits were where most kills of a job
restarted back to back found the monitor: the next death was reaped only after them.

So the loop hands ended runs' records (:meth:`Syncer.submit`) and acknowledged ones
(:meth:`Syncer.forget`) to a :class:`Syncer` and goes on. Its thread deletes the
acknowledged records at once, and fsyncs the others once the oldest has waited
:data:`SYNC_DELAY` (one directory fsync for the whole batch). A record acknowledged
before then needs no fsync: its exit is the agent's to keep (the monitor's announcement
goes out before any fsync, as it always did). So an ended run's record is durable
within :data:`SYNC_DELAY` of its end, or deleted; a job restarted many times a second
no longer costs a journal commit per restart.

The thread only makes system calls on paths (open, fsync, unlink or rename into the
spares, close; see :mod:`.spares`), never holding
a lock the loop's work needs, so a ``fork`` in the loop (a job's logger) finds it holding
nothing the child needs. :meth:`Syncer.flush` waits for all of it, before the monitor
exits.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable

#: Seconds an ended run's record waits, at most, before its fsync (or its deletion).
SYNC_DELAY = 0.05


class Syncer:
    """Runs ``sync(run_ids)`` and ``delete(run_id)`` in a background thread."""

    def __init__(
        self,
        sync: Callable[[list[str]], None],
        delete: Callable[[str], None],
        *,
        delay: float = SYNC_DELAY,
    ) -> None:
        self._sync, self._delete, self._delay = sync, delete, delay
        self._changed = threading.Condition()
        self._to_sync: dict[str, float] = {}  # run id -> when it was submitted (in order)
        self._to_delete: list[str] = []
        self._closing = False
        self._thread: threading.Thread | None = None

    def submit(self, run_ids: list[str]) -> None:
        """Make these records durable within the delay; returns at once."""
        now = time.monotonic()
        with self._changed:
            for run_id in run_ids:
                self._to_sync.setdefault(run_id, now)
            self._changed.notify()
        self._start()

    def forget(self, run_id: str) -> None:
        """Delete this record (its exit was acknowledged); returns at once."""
        with self._changed:
            self._to_delete.append(run_id)
            self._changed.notify()
        self._start()

    def flush(self, timeout: float = 30.0) -> None:
        """Do everything submitted now, and wait (at most ``timeout`` s) until it is done."""
        thread, self._thread = self._thread, None
        if thread is not None:
            with self._changed:
                self._closing = True
                self._changed.notify()
            thread.join(timeout)
            self._closing = False

    def _start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="fsync", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        while True:
            with self._changed:
                deletes, self._to_delete = self._to_delete, []
                for run_id in deletes:
                    self._to_sync.pop(run_id, None)  # acknowledged: nothing to keep
                syncs: list[str] = []
                oldest = next(iter(self._to_sync.values()), None)
                if oldest is not None and (
                    self._closing or time.monotonic() >= oldest + self._delay
                ):
                    syncs = list(self._to_sync)
                    self._to_sync.clear()
                if not deletes and not syncs:
                    if self._closing:
                        return
                    wait = None if oldest is None else oldest + self._delay - time.monotonic()
                    self._changed.wait(wait)
                    continue
            # On an error a record stays as it is; nothing else depends on it.
            for run_id in deletes:
                with contextlib.suppress(OSError):
                    self._delete(run_id)
            if syncs:
                with contextlib.suppress(OSError):
                    self._sync(syncs)
