"""CPU% and RSS of a job's whole process tree, from the ``/proc`` scan of a report.

A :class:`~symphony.node.process.proctree.Snapshot` shared by all instances of one
report already read every process's ``/proc/<pid>/stat``, which holds its CPU time
(user + system, in clock ticks) and its resident pages: reporting 200 instances costs
that one scan, and no further file per process (psutil read ``stat`` again, and
``statm``, for each process of each job at every heartbeat).

CPU% is what ``psutil.Process.cpu_percent()`` gives: the CPU time a process used since
the previous sample, over the time between the two samples, times 100 (one busy core is
100). A :class:`TreeSampler` keeps each process's previous reading, keyed by pid and
start time (a reused pid is a new process); a process's first sample counts 0.0.
"""

from __future__ import annotations

import os
import time

from .proctree import Snapshot

_TICKS_PER_SECOND = os.sysconf("SC_CLK_TCK")
_PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")


class TreeSampler:
    """Samples one run's tree (leader identified by pid and start ticks)."""

    def __init__(self, pid: int, start_ticks: int) -> None:
        self.pid = pid
        self.start_ticks = start_ticks
        # (pid, start ticks) -> (CPU ticks, when) at the previous sample
        self._previous: dict[tuple[int, int], tuple[int, float]] = {}

    def sample(self, snapshot: Snapshot) -> tuple[float, int]:
        """``(cpu_percent, rss_bytes)`` summed over the tree; zeros once the leader is gone."""
        if not snapshot.alive(self.pid, self.start_ticks):
            self._previous.clear()
            return 0.0, 0
        members = [snapshot.by_pid[self.pid], *snapshot.descendants(self.pid)]
        now = time.monotonic()
        keep: dict[tuple[int, int], tuple[int, float]] = {}
        cpu_ticks_per_second = 0.0
        rss_pages = 0
        for info in members:
            key = (info.pid, info.start_ticks)
            previous = self._previous.get(key)
            if previous is not None and now > previous[1]:
                cpu_ticks_per_second += (info.cpu_ticks - previous[0]) / (now - previous[1])
            keep[key] = (info.cpu_ticks, now)
            rss_pages += info.rss_pages
        self._previous = keep
        return cpu_ticks_per_second * 100 / _TICKS_PER_SECOND, rss_pages * _PAGE_SIZE
