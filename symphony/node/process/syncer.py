"""The monitor's fsyncs, in a thread of their own: its loop never waits for the disk.

An ended run's record is made durable (fsync of the file, then of its directory) so
that its exit code outlives a machine crash until the agent has seen it. A directory
fsync after a file was created or removed waits for the filesystem's journal: 1.5-2.5
ms on an idle disk here, 5-12 ms while other processes commit to it. Done in the
monitor's loop, after every restart, that wait was where most kills of a job restarted
back to back found the monitor: the next death was reaped only after it.

So the loop hands each iteration's records to a :class:`Syncer` and goes on (the
announcement already went out before the fsync, as before). Its thread takes whatever
has queued up in one batch: one directory fsync for all of it. The thread only makes
system calls on paths (open, fsync, close; a record deleted meanwhile is skipped), so
a ``fork`` of the monitor's loop (a job's logger) never finds it holding anything the
child needs. :meth:`Syncer.flush` waits for all of it, before the monitor exits.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Callable


class Syncer:
    """Runs ``sync(run_ids)`` in a background thread, batching what queued up."""

    def __init__(self, sync: Callable[[list[str]], None]) -> None:
        self._sync = sync
        self._queue: queue.SimpleQueue[list[str] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    def submit(self, run_ids: list[str]) -> None:
        """Make these records durable soon; returns at once."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._work, name="fsync", daemon=True)
            self._thread.start()
        self._queue.put(list(run_ids))

    def flush(self, timeout: float = 30.0) -> None:
        """Wait (at most ``timeout`` s) until everything submitted is durable."""
        thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout)

    def _work(self) -> None:
        while True:
            batch = self._queue.get()
            if batch is None:
                return
            last = False
            while not last:  # all that queued up meanwhile: one directory fsync
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                last = more is None
                batch.extend(more or ())
            # On an error the records stay as written; the next batch tries again.
            with contextlib.suppress(OSError):
                self._sync(batch)
            if last:
                return
