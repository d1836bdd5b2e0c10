"""``StoreReader``: the store's read methods on a read-only connection of their own.

The :class:`~symphony.conductor.store.Store` runs on the event-loop thread, where a small
query costs less than a hop to a worker thread. A read of *everything* (every
deployment and instance, thousands of rows) is the opposite: tens of milliseconds during
which no heartbeat is handled. Such reads go to a worker thread, and a connection
belongs to the thread that uses it, so the worker reads on its own (a read-only SQLite
connection, or one of a small pool of PostgreSQL ones)::

    records, instances = await trio.to_thread.run_sync(store.read_everything)

Readers never block the writer (nor it them: WAL, or PostgreSQL's MVCC), and a read
transaction sees one consistent moment of the database.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path
from urllib.parse import quote

from ._db import SqliteDb
from ._deployments import DeploymentTable
from ._dialect import begin_read
from ._instances import InstanceTable
from ._records import DeploymentRecord, InstanceRecord


class StoreReader(DeploymentTable, InstanceTable):
    """Read-only access to deployments and instances (its write methods would fail)."""

    @classmethod
    def open(cls, path: str | Path, *, busy_timeout_ms: int = 5000) -> StoreReader:
        """A read-only connection to the database at ``path`` (which must exist)."""
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True, isolation_level=None)
        conn.execute(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        return cls(SqliteDb(conn), clock=time.time)

    def read_all(self) -> tuple[list[DeploymentRecord], list[InstanceRecord]]:
        """Every deployment and every instance, read in one transaction."""
        self._conn.execute(begin_read(self._conn.dialect))
        try:
            return self.list_deployments(), self.list_instances()
        finally:
            self._conn.execute("COMMIT")

    @classmethod
    def read_all_at(cls, path: str | Path) -> tuple[list[DeploymentRecord], list[InstanceRecord]]:
        """Open, :meth:`read_all`, close: for one call in a worker thread."""
        reader = cls.open(path)
        try:
            return reader.read_all()
        finally:
            reader.close()
