"""The connection and the one transaction helper every table module uses.

SQLite runs on the event-loop thread on purpose: with WAL and ``synchronous=NORMAL`` a
commit costs ~20 µs, while handing each write to a worker thread costs ~250 µs. Keep
statements small and indexed; batch many rows into one transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager


class StoreBase:
    """Holds the connection; table mixins add the typed methods."""

    def __init__(self, conn: sqlite3.Connection, *, clock: Callable[[], float]) -> None:
        self._conn = conn
        self._clock = clock
        #: Write transactions committed through this object so far. A reader that
        #: noted it before reading knows whether what it read is still current.
        self.commits = 0

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed before the caller's method returns.

        ``BEGIN IMMEDIATE`` takes the write lock up front, so a second process (say an
        operator's sqlite3 shell) makes us wait for ``busy_timeout`` instead of failing
        half-way through.
        """
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
            conn.execute("COMMIT")
            self.commits += 1
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close the database (idempotent)."""
        self._conn.close()
