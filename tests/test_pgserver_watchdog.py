"""The test session's PostgreSQL server does not outlive a test run killed outright."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from tests.pgserver import PgUnavailable, find_bindir

ROOT = Path(__file__).resolve().parent.parent

_SESSION = """
import time
from tests.pgserver import PgServer
server = PgServer().start()
print(server.root, flush=True)
time.sleep(600)
"""


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_pg_server_stops_when_the_test_run_is_killed(tmp_path: Path) -> None:
    try:
        find_bindir()
    except PgUnavailable as exc:
        pytest.skip(str(exc))
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    }
    session = subprocess.Popen(
        [sys.executable, "-c", _SESSION], stdout=subprocess.PIPE, cwd=tmp_path, env=env
    )
    assert session.stdout is not None
    line = session.stdout.readline().decode().strip()
    session.stdout.close()
    if not line:
        session.wait()
        pytest.skip("no PostgreSQL server could start here")
    root = Path(line)
    pid = int((root / "data" / "postmaster.pid").read_text().split()[0])
    try:
        assert _running(pid)
        session.send_signal(signal.SIGKILL)  # no finalizer runs, no atexit
        session.wait()
        deadline = time.monotonic() + 10
        while (_running(pid) or root.exists()) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _running(pid), "the server outlived the test run"
        assert not root.exists(), "the server's directory outlived the test run"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGQUIT)  # the old code's leak: an immediate shutdown
        shutil.rmtree(root, ignore_errors=True)
