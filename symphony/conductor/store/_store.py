"""``Store``: the Conductor's SQLite database, one typed method per operation."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

from ._deployments import DeploymentTable
from ._events import EventTable
from ._instances import InstanceTable
from ._nodes import NodeTable
from ._schema import migrate, schema_version
from ._tokens import TokenTable

DEFAULT_PATH = Path("storage") / "symphony.db"


class Store(DeploymentTable, InstanceTable, EventTable, TokenTable, NodeTable):
    """Deployments, instances, events, join tokens and node incarnations in one SQLite file.

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
        path.parent.mkdir(parents=True, exist_ok=True)
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
