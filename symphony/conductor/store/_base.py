"""The connection and the one transaction helper every table module uses.

SQLite runs on the event-loop thread on purpose: with WAL and ``synchronous=NORMAL`` a
commit costs ~20 µs, while handing each write to a worker thread costs ~250 µs. Keep
statements small and indexed; batch many rows into one transaction.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from ._errors import Fenced


class StoreBase:
    """Holds the connection; table mixins add the typed methods."""

    def __init__(self, conn: sqlite3.Connection, *, clock: Callable[[], float]) -> None:
        self._conn = conn
        self._clock = clock
        #: Write transactions committed through this object so far (lease renewals
        #: aside). A reader that noted it before reading knows whether what it read is
        #: still current.
        self.commits = 0
        #: ``(lease name, holder, token)`` while this store writes as a lease holder:
        #: every write transaction then checks, inside itself, that the lease is still
        #: held with that token (see :mod:`._leases`).
        self._fence: tuple[str, str, int] | None = None
        #: Called when a write was refused for the fence (the holder steps down at once).
        self.on_fenced: Callable[[], None] | None = None

    @contextmanager
    def _write(self, *, fenced: bool = True) -> Iterator[sqlite3.Connection]:
        """One write transaction, committed before the caller's method returns.

        ``BEGIN IMMEDIATE`` takes the write lock up front, so a second process (say an
        operator's sqlite3 shell, or a standby Conductor) makes us wait for
        ``busy_timeout`` instead of failing half-way through. While the store is fenced
        (``fenced`` leaves that out: the lease methods themselves) the transaction first
        checks that our lease still stands and raises :class:`Fenced` if another holder
        took it: the check and the write commit together, so no write of a deposed
        leader can land after its successor's first.
        """
        conn = self._conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            if fenced and self._fence is not None:
                try:
                    self._check_fence(conn, *self._fence)
                except Fenced:
                    if self.on_fenced is not None:
                        self.on_fenced()
                    raise
            yield conn
            conn.execute("COMMIT")
            if fenced:  # the lease's own bookkeeping changes no data a reader holds
                self.commits += 1
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise

    @staticmethod
    def _check_fence(conn: sqlite3.Connection, name: str, holder: str, token: int) -> None:
        # Inside the write transaction: SQLite's write lock is held, so the lease cannot
        # change before COMMIT. (A server database reads the row FOR SHARE instead.)
        row = conn.execute("SELECT holder, token FROM leases WHERE name = ?", (name,)).fetchone()
        if row is None or row[0] != holder or int(row[1]) != token:
            raise Fenced(
                f"the {name!r} lease (token {token}) was taken over by another Conductor; "
                "this one is no longer the leader and may not write"
            )

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[sqlite3.Row]:
        return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close the database (idempotent)."""
        self._conn.close()
