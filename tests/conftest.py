"""Suite-wide fixtures.

Node monitors and jobs are built to outlive the agent that started them; in tests that
is a leak. After every test, whatever still runs from that test's ``tmp_path`` (its
command line names it, or its working directory lies in it) is killed.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest


def processes_under(root: Path) -> list[psutil.Process]:
    """Live processes (not us) whose command line or cwd is inside ``root``."""
    marker = str(root)
    found = []
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        if proc.pid == os.getpid():
            continue
        try:
            cmdline = " ".join(proc.info["cmdline"] or ())
            cwd = proc.info["cwd"] or ""
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if marker in cmdline or cwd.startswith(marker):
            found.append(proc)
    return found


def kill_all(procs: list[psutil.Process]) -> None:
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess):
            proc.send_signal(signal.SIGKILL)
    # A killed daemon's zombie waits for whoever adopts it; dead is dead enough here.
    deadline = time.monotonic() + 5
    while procs and time.monotonic() < deadline:
        procs = [p for p in procs if _alive(p)]
        if procs:
            time.sleep(0.01)


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


@pytest.fixture(autouse=True)
def _reap_strays(request: pytest.FixtureRequest) -> Iterator[None]:
    root = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if root is not None:
        kill_all(processes_under(root))
