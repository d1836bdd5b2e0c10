"""A job's CPU% and RSS come from the report's one ``/proc`` scan, with no file read per
process: a heartbeat of a node running 100 jobs read 300 more files (psutil) and cost
the agent about 9 ms of CPU, where the figures were in the scan already."""

from __future__ import annotations

import os
import subprocess
import sys
import time

from symphony.node.process.proctree import Snapshot
from symphony.node.process.sampler import TreeSampler

_BUSY = "x = bytearray(8 << 20)\nwhile True: pass"  # one busy core, 8 MiB resident


def test_the_sample_is_the_snapshots_reading_of_the_tree() -> None:
    job = subprocess.Popen([sys.executable, "-c", _BUSY])
    try:
        time.sleep(0.3)
        first = Snapshot.take()
        sampler = TreeSampler(job.pid, first.by_pid[job.pid].start_ticks)
        assert sampler.sample(first)[0] == 0.0  # no earlier reading: as psutil, 0.0
        time.sleep(1.0)
        second = Snapshot.take()
    finally:
        job.kill()
        job.wait()
    # The job is gone now: only the snapshot knows what it used and held.
    cpu, rss = sampler.sample(second)
    assert cpu > 5  # a busy loop on a loaded machine still gets a good share of a core
    assert rss > 8 << 20
    info = second.by_pid[job.pid]
    assert rss == info.rss_pages * os.sysconf("SC_PAGE_SIZE")
    assert info.cpu_ticks > first.by_pid[job.pid].cpu_ticks
    # Once the snapshot says the leader is gone: zeros.
    assert sampler.sample(Snapshot.take()) == (0.0, 0)
