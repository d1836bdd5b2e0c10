"""CPU% and RSS of a job's whole process tree, sampled with psutil.

``psutil.Process.cpu_percent()`` measures since its *previous call on the same object*
(the first call returns 0.0), so a :class:`TreeSampler` keeps its Process objects between
samples, keyed by pid and start time (a reused pid is a new process). The tree itself
comes from a :class:`~symphony.node.process.proctree.Snapshot` shared by all instances
of one report, so reporting 200 instances costs one ``/proc`` scan, not 200.
"""

from __future__ import annotations

import psutil

from .proctree import Snapshot


class TreeSampler:
    """Samples one run's tree (leader identified by pid and start ticks)."""

    def __init__(self, pid: int, start_ticks: int) -> None:
        self.pid = pid
        self.start_ticks = start_ticks
        self._processes: dict[tuple[int, int], psutil.Process] = {}

    def sample(self, snapshot: Snapshot) -> tuple[float, int]:
        """``(cpu_percent, rss_bytes)`` summed over the tree; zeros once the leader is gone."""
        if not snapshot.alive(self.pid, self.start_ticks):
            self._processes.clear()
            return 0.0, 0
        members = [snapshot.by_pid[self.pid], *snapshot.descendants(self.pid)]
        keep: dict[tuple[int, int], psutil.Process] = {}
        cpu = 0.0
        rss = 0
        for info in members:
            key = (info.pid, info.start_ticks)
            process = self._processes.get(key)
            try:
                if process is None:
                    process = psutil.Process(info.pid)
                cpu += process.cpu_percent()
                rss += process.memory_info().rss
            except psutil.Error:  # exited between the scan and now
                continue
            keep[key] = process
        self._processes = keep
        return cpu, rss
