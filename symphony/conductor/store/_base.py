"""The connection and the one transaction helper every table module uses.

The store runs on the event-loop thread on purpose: SQLite with WAL and
``synchronous=NORMAL`` commits in ~20 µs, while handing each write to a worker thread
costs ~250 µs (PostgreSQL's numbers: :mod:`._postgres`). Keep statements small and
indexed; batch many rows into one transaction. The connection is a :class:`~._db.Db`
(SQLite or PostgreSQL): write SQL in the subset both speak (:mod:`._dialect`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from ._db import Db, Row


class StoreBase:
    """Holds the connection; table mixins add the typed methods."""

    def __init__(self, conn: Db, *, clock: Callable[[], float]) -> None:
        self._conn = conn
        self._clock = clock
        #: Write transactions committed through this object so far. A reader that
        #: noted it before reading knows whether what it read is still current.
        self.commits = 0

    @contextmanager
    def _write(self) -> Iterator[Db]:
        """One write transaction, committed before the caller's method returns.

        The write lock is taken up front (SQLite's ``BEGIN IMMEDIATE``, an advisory lock
        on PostgreSQL), so a second process (say an operator's sqlite3 shell, or another
        Conductor) makes us wait instead of failing half-way through.
        """
        conn = self._conn
        conn.begin_write()
        try:
            yield conn
            conn.commit()
            self.commits += 1
        except BaseException:
            conn.rollback()
            raise

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close the database (idempotent)."""
        self._conn.close()
