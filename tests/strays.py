"""Finding and killing what tests leave running (psutil only: the session's watchdog
imports this in a bare interpreter).

Node monitors and jobs are built to outlive the agent that started them; in tests that
is a leak. Whatever runs from a test's directory (its command line names it, or its
working directory lies in it) is killed, and with it every process it started: a job may
run in a directory of the repository (``examples/rl``) and still hold a port of the
node's range, which a later test's node then finds taken.

:func:`watch` covers a test run killed outright (SIGKILL, an OOM kill), when no fixture's
teardown runs: a watchdog in a session of its own waits for end of file on a pipe whose
only write end the test run holds, then kills what runs from the run's base temporary
directory. Run as ``python3 tests/strays.py DIRECTORY`` with that pipe as standard input.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil


def processes_under(root: Path) -> list[psutil.Process]:
    """Live processes (not us) whose command line or cwd is inside ``root``, and every
    descendant of theirs (a node monitor's jobs, wherever they run), found before any
    is killed: a job whose monitor dies first is the init process's child, out of reach."""
    # The whole name: another run's ``pytest-12`` is not inside this run's ``pytest-1``.
    marker = re.compile(re.escape(str(root)) + r"(?![\w.-])")
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        if proc.pid == os.getpid():
            continue
        try:
            cmdline = " ".join(proc.info["cmdline"] or ())
            cwd = proc.info["cwd"] or ""
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if marker.search(cmdline) or marker.match(cwd):
            found[proc.pid] = proc
    for proc in list(found.values()):
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            for child in proc.children(recursive=True):
                if child.pid != os.getpid():
                    found.setdefault(child.pid, child)
    return list(found.values())


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


# The outer shell returns at once (no ``Popen`` left running for the test run to
# wait for); its background job is the watchdog, reading the pipe from descriptor 3
# (a background job's own standard input is /dev/null).
_START = 'exec 3<&0; "$0" "$1" "$2" <&3 3<&- >/dev/null 2>&1 &'


def watch(root: Path) -> int:
    """Start the watchdog of ``root`` (module docstring); returns the pipe's write end,
    to be closed at the end of the run (the kernel closes it if the run is killed).
    ``os.pipe`` makes descriptors no child inherits: only this process holds that end."""
    read, write = os.pipe()
    try:
        subprocess.run(
            ["sh", "-c", _START, sys.executable, __file__, str(root)],
            stdin=read,
            cwd="/",
            start_new_session=True,  # not in the process group a ^C or a group kill hits
            check=True,
            timeout=10,
        )
    except BaseException:
        os.close(write)
        raise
    finally:
        os.close(read)
    return write


if __name__ == "__main__":
    sys.stdin.buffer.read()  # end of file: the test run is over, however it ended
    kill_all(processes_under(Path(sys.argv[1])))
