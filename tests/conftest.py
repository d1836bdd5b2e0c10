"""Suite-wide fixtures.

Node monitors and jobs are built to outlive the agent that started them; in tests that
is a leak. After every test, whatever still runs from that test's ``tmp_path`` is
killed, with every process it started (:mod:`tests.strays`); and if the test run itself
is killed outright, a watchdog kills whatever runs from the run's base temporary
directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from benchmarks._bytecode import compile_symphony
from tests.strays import kill_all, processes_under, watch


def pytest_sessionstart(session: pytest.Session) -> None:
    """Compile our modules once: the suite starts hundreds of interpreters that import them.

    Where bytecode writing is off for every process, each Conductor, agent and CLI the
    tests start would compile its modules again (half a second of CPU apiece).
    """
    compile_symphony()


#: Longest test id allowed: pytest puts it in ``PYTEST_CURRENT_TEST``, and Linux refuses
#: to start a process with an environment string over 128 KiB (E2BIG).
MAX_TEST_ID = 8192


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Refuse a test whose id is too long to sit in the environment: every process it
    starts, the strays' watchdog's among them, would fail (name such parameters)."""
    for item in items:
        if len(item.nodeid) > MAX_TEST_ID:
            raise pytest.UsageError(
                f"test id of {len(item.nodeid)} characters (at most {MAX_TEST_ID}): "
                f"{item.nodeid[:120]}... give its parameters ids="
            )


@pytest.fixture(scope="session", autouse=True)
def _strays_watchdog(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    lifeline = watch(tmp_path_factory.getbasetemp())
    try:
        yield
    finally:
        os.close(lifeline)


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
