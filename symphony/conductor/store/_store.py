"""``Store``: the Conductor's database (SQLite or PostgreSQL), one typed method per operation."""

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
from typing import TYPE_CHECKING

from ._counters import CounterTable
from ._db import Db, SqliteDb
from ._deployments import DeploymentTable
from ._dialect import Dialect
from ._errors import StoreUnavailable
from ._events import EventTable
from ._experiments import ExperimentTable
from ._instances import InstanceTable
from ._leases import LeaseTable
from ._nodes import NodeTable
from ._reader import StoreReader
from ._records import DeploymentRecord, InstanceRecord
from ._runs import RunTable
from ._schema import migrate, schema_version
from ._secrets import SecretTable
from ._shared import SharedMaterialTable
from ._tokens import TokenTable
from ._url import dialect_of, redacted, sqlite_path
from ._versions import VersionTable

if TYPE_CHECKING:  # the driver is imported only for a PostgreSQL store
    from ._postgres import ReaderPool

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
    SharedMaterialTable,
    LeaseTable,
):
    """Deployments, instances, events, join tokens, node incarnations, counters,
    experiments, the runs of scheduled deployments, sealed secrets and the Conductors'
    leadership lease in one SQLite file (:meth:`open`) or one PostgreSQL database
    (:meth:`open_url`).

    Every write method commits before it returns: when it returns, the change survives
    a crash of the Conductor process. (``synchronous=NORMAL`` in WAL mode: a power cut
    may lose the last few commits, never corrupt the file.)

        >>> store = Store.open(tmp_path / "symphony.db")          # doctest: +SKIP
        >>> record = store.create_deployment(parse_spec(seed))   # doctest: +SKIP
        >>> store.get_deployment(record.name).generation         # doctest: +SKIP
        1

    Use it from one thread (the Conductor's event loop); it is not thread-safe, except
    :meth:`read_everything`, which is meant for worker threads.
    """

    def __init__(
        self,
        conn: Db,
        *,
        path: Path | None,
        clock: Callable[[], float],
        url: str | None = None,
    ) -> None:
        super().__init__(conn, clock=clock)
        #: The SQLite file (None on PostgreSQL).
        self.path = path
        self._url = url
        self._readers: ReaderPool | None = None
        if url is not None:
            from ._postgres import ReaderPool

            self._readers = ReaderPool(url)

    @property
    def dialect(self) -> Dialect:
        """Which engine holds the data."""
        return self._conn.dialect

    @property
    def location(self) -> str:
        """Where the data is, for people: the file, or the URL without its password."""
        return str(self.path) if self._url is None else redacted(self._url)

    @classmethod
    def open_url(
        cls,
        url: str | None,
        *,
        state_dir: str | Path = Path("storage"),
        clock: Callable[[], float] = time.time,
    ) -> Store:
        """Open (creating and migrating as needed) the store ``url`` names (see
        :mod:`._url`: no URL is ``<state_dir>/symphony.db``). Raises ``ValueError`` for
        a URL of another kind, :class:`StoreUnavailable` when the server cannot be
        reached."""
        if dialect_of(url) is Dialect.SQLITE:
            return cls.open(sqlite_path(url, Path(state_dir)), clock=clock)
        assert url is not None
        try:
            from ._postgres import PostgresDb
        except ImportError as exc:
            raise StoreUnavailable(
                f"a PostgreSQL store needs the psycopg package ({exc}): "
                "pip install 'symphony-orchestra[postgres]'"
            ) from None

        db = PostgresDb(url)
        try:
            migrate(db)
        except BaseException:
            db.close()
            raise
        log.info("store: PostgreSQL at %s", redacted(url))
        return cls(db, path=None, clock=clock, url=url)

    def read_everything(self) -> tuple[list[DeploymentRecord], list[InstanceRecord]]:
        """Every deployment and every instance, read in one transaction on a connection
        of its own: safe to call from a worker thread while the loop thread writes."""
        if self._readers is None:
            assert self.path is not None
            return StoreReader.read_all_at(self.path)
        db = self._readers.take()
        try:
            return StoreReader(db, clock=self._clock).read_all()
        finally:
            self._readers.give_back(db)

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
        if str(path) != ":memory:":
            # The migrations are some fifty statements on a new database, each kept in
            # the statement cache of the connection that ran it, for good (about 0.25
            # MiB of a Conductor that idles): they run on a connection of their own.
            with contextlib.closing(_connect(path, busy_timeout_ms)) as conn:
                migrate(SqliteDb(conn))
        conn = _connect(path, busy_timeout_ms)
        try:
            db = SqliteDb(conn)
            migrate(db)  # done already, but for a database in memory: reads its version
            if str(path) != ":memory:":
                _private_files(path)  # -wal and -shm exist now
        except BaseException:
            conn.close()
            raise
        return cls(db, path=path, clock=clock)

    @property
    def schema_version(self) -> int:
        return schema_version(self._conn)

    def close(self) -> None:
        """Close the database and any reader connections (idempotent)."""
        if self._readers is not None:
            self._readers.close()
        super().close()

    def __enter__(self) -> Store:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def _connect(path: str | Path, busy_timeout_ms: int) -> sqlite3.Connection:
    """A connection to ``path`` in WAL mode, with the store's settings."""
    # isolation_level=None: we issue BEGIN/COMMIT ourselves, so a "durable when it
    # returns" write is one explicit transaction, not the sqlite3 module's guess.
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        _use_wal(conn, busy_timeout_ms / 1000)
        conn.execute("PRAGMA synchronous = NORMAL")
        conn.execute("PRAGMA foreign_keys = ON")
    except BaseException:
        conn.close()
        raise
    return conn


def _use_wal(conn: sqlite3.Connection, timeout: float) -> None:
    """Put the database in WAL mode, waiting up to ``timeout`` s for other connections.

    Several Conductors opening one new database at the same moment all ask for WAL
    while the first of them converts the file; SQLite then answers "database is
    locked" at once for some of them, without calling the busy handler (seen about
    once in 200 races of four openers on a loaded machine). Asking again shortly after
    finds the conversion done and the mode already WAL.
    """
    deadline = time.monotonic() + timeout
    pause = 0.005
    while True:
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() + pause > deadline:
                raise
        time.sleep(pause)
        pause = min(pause * 2, 0.1)
