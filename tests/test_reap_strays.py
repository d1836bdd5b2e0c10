"""What the suite kills after a test: everything started from its ``tmp_path``, and what
those started in turn, wherever that runs."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import psutil

from .conftest import kill_all, processes_under


def test_reaping_a_tests_processes_takes_their_descendants_outside_tmp_path(
    tmp_path: Path,
) -> None:
    # As a node monitor (cwd in the test's state dir) runs a job in a directory of the
    # repository (examples/rl), whose command line names nothing of tmp_path either.
    parent = subprocess.Popen(["sh", "-c", "(cd / && exec sleep 60) & wait"], cwd=tmp_path)
    try:
        deadline = time.monotonic() + 10
        while not (children := psutil.Process(parent.pid).children(recursive=True)):
            assert time.monotonic() < deadline, "the child did not start"
            time.sleep(0.01)
        [child] = children
        while child.cwd() != "/":  # the subshell has not changed directory yet
            assert time.monotonic() < deadline, "the child did not leave tmp_path"
            time.sleep(0.01)
        found = {p.pid for p in processes_under(tmp_path)}
        assert found == {parent.pid, child.pid}
        kill_all(processes_under(tmp_path))
        assert not psutil.pid_exists(child.pid) or child.status() == psutil.STATUS_ZOMBIE
    finally:
        parent.kill()
        parent.wait()
