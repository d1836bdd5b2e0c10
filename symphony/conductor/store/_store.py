"""``Store``: the Conductor's SQLite database, one typed method per operation."""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
import stat
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from ._counters import CounterTable
from ._deployments import DeploymentTable
from ._events import EventTable
from ._experiments import ExperimentTable
from ._instances import InstanceTable
from ._leases import LeaseTable
from ._nodes import NodeTable
from ._runs import RunTable
from ._schema import migrate, schema_version
from ._secrets import SecretTable
from ._together import InstanceEventTable
from ._tokens import TokenTable
from ._versions import VersionTable

DEFAULT_PATH = Path("storage") / "symphony.db"
#: The files of one SQLite database in WAL mode: each holds specs with their env values.
_SUFFIXES = ("", "-wal", "-shm")

log = logging.getLogger("symphony.conductor.store")


def _private_files(path: Path) -> None:
    """Create ``path`` 0600 if missing and tighten it, its WAL and shared memory to 0600.

    SQLite creates ``-wal`` and ``-shm`` with the database file's mode, so a database
    created 0600 keeps them private; files from before (0644) are tightened here.
    """
    with contextlib.suppress(FileExistsError):
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    for suffix in _SUFFIXES:
        name = Path(f"{path}{suffix}")
        try:
            mode = stat.S_IMODE(name.stat().st_mode)
        except FileNotFoundError:
            continue
        if mode & 0o077:
            log.info("tightening %s from mode %o to 600", name, mode)
            os.chmod(name, mode & 0o600)


class Store(
    DeploymentTable,
    InstanceTable,
    EventTable,
    TokenTable,
    NodeTable,
    CounterTable,
    ExperimentTable,
    RunTable,
    SecretTable,
    VersionTable,
    InstanceEventTable,
    LeaseTable,
):
    """Deployments, instances, events, join tokens, node incarnations, counters,
    experiments, the runs of scheduled deployments, sealed secrets and the Conductors'
    leadership lease in one SQLite file.

    Every write method commits before it returns: when it returns, the change survives
    a crash of the Conductor process. (``synchronous=NORMAL`` in WAL mode: a power cut
    may lose the last few commits, never corrupt the file.)

        >>> store = Store.open(tmp_path / "symphony.db")          # doctest: +SKIP
        >>> record = store.create_deployment(parse_spec(seed))   # doctest: +SKIP
        >>> store.get_deployment(record.name).generation         # doctest: +SKIP
        1

    Use it from one thread (the Conductor's event loop); it is not thread-safe.
    """

    def __init__(self, conn: sqlite3.Connection, *, path: Path, clock: Callable[[], float]) -> None:
        super().__init__(conn, clock=clock)
        self.path = path

    @classmethod
    def open(
        cls,
        path: str | Path = DEFAULT_PATH,
        *,
        clock: Callable[[], float] = time.time,
        busy_timeout_ms: int = 5000,
    ) -> Store:
        """Open (creating and migrating as needed) the database at ``path``."""
        path = Path(path)
        # A new directory is private; an existing one is the caller's (the Conductor
        # tightens its own state directory).
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if str(path) != ":memory:":
            _private_files(path)
        # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a "durable when it
        # returns" write is one explicit transaction, not the sqlite3 module's guess.
        conn = sqlite3.connect(path, isolation_level=None)
        try:
            conn.row_factory = sqlite3.Row
            conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            migrate(conn)
            if str(path) != ":memory:":
                _private_files(path)  # -wal and -shm exist now
        except BaseException:
            conn.close()
            raise
        return cls(conn, path=path, clock=clock)

    @property
    def schema_version(self) -> int:
        return schema_version(self._conn)

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
