"""What a test starts does not outlive a test run killed outright."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parent.parent

# A test that starts a process in its directory the way a node monitor leaves its job:
# in a session of its own, re-parented once its starter exits. It prints its pid, then
# waits to be killed with the whole test run.
_INNER = """
import subprocess, time

def test_leaves_a_job_running(tmp_path):
    starter = subprocess.run(
        ["sh", "-c", "setsid sleep 600 </dev/null >/dev/null 2>&1 & echo $!"],
        cwd=tmp_path, capture_output=True, check=True, text=True,
    )
    print("JOB", starter.stdout.strip(), flush=True)
    time.sleep(600)
"""


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_a_killed_test_run_leaves_nothing_running_from_its_directories(tmp_path: Path) -> None:
    inner = tmp_path / "inner"
    inner.mkdir()
    (inner / "test_inner.py").write_text(_INNER)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    run = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-s", "-q", "-p", "tests.conftest", "-p", "no:randomly",
         "-p", "no:cacheprovider", "-o", "timeout=0", f"--rootdir={inner}",
         f"--basetemp={tmp_path / 'base'}", str(inner / "test_inner.py")],
        stdout=subprocess.PIPE, cwd=inner, env=env,
    )  # fmt: skip
    assert run.stdout is not None
    pid = None
    for line in run.stdout:
        if line.startswith(b"JOB "):
            pid = int(line.split()[1])
            break
    assert pid is not None, "the inner test run did not start its job"
    assert _alive(pid) and psutil.Process(pid).ppid() != run.pid
    run.kill()  # no fixture's teardown runs
    run.wait()
    run.stdout.close()
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid), "a job of the killed test run still runs"
