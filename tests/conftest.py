"""Suite-wide fixtures.

Node monitors and jobs are built to outlive the agent that started them; in tests that
is a leak. After every test, whatever still runs from that test's ``tmp_path`` (its
command line names it, or its working directory lies in it) is killed, and with it every
process it started: a job may run in a directory of the repository (``examples/rl``) and
still hold a port of the node's range, which a later test's node then finds taken.
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

from benchmarks._bytecode import compile_symphony


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile our modules once: the suite starts hundreds of interpreters that import them.

    Where bytecode writing is off for every process, each Conductor, agent and CLI the
    tests start would compile its modules again (half a second of CPU apiece).
    """
    compile_symphony()


def processes_under(root: Path) -> list[psutil.Process]:
    """Live processes (not us) whose command line or cwd is inside ``root``, and every
    descendant of theirs (a node monitor's jobs, wherever they run), found before any
    is killed: a job whose monitor dies first is the init process's child, out of reach."""
    marker = str(root)
    found: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["pid", "cmdline", "cwd"]):
        if proc.pid == os.getpid():
            continue
        try:
            cmdline = " ".join(proc.info["cmdline"] or ())
            cwd = proc.info["cwd"] or ""
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        if marker in cmdline or cwd.startswith(marker):
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


@pytest.fixture(autouse=True)
def _reap_strays(request: pytest.FixtureRequest) -> Iterator[None]:
    root = request.getfixturevalue("tmp_path") if "tmp_path" in request.fixturenames else None
    yield
    if root is not None:
        kill_all(processes_under(root))


# The store's two engines. ``store_url`` is a parametrized fixture: a test that takes it
# runs once on SQLite and once on PostgreSQL (a fresh database of the session's server).


@pytest.fixture(scope="session")
def pg_server() -> Iterator[object]:
    """The session's PostgreSQL server (started on first use); skips the test, with
    the reason, where none can start."""
    from tests.pgserver import PgServer, PgUnavailable

    try:
        import psycopg  # noqa: F401
    except ImportError:
        pytest.skip("PostgreSQL tests need the psycopg package (pip install '.[postgres]')")
    try:
        server = PgServer().start()
    except PgUnavailable as exc:
        pytest.skip(f"no PostgreSQL server: {exc}")
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A URL for ``Store.open_url``: a SQLite file in ``tmp_path``, or a new database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path}/state/symphony.db"
    server = request.getfixturevalue("pg_server")
    return str(server.new_database())
