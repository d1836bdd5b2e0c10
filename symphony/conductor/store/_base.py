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
from ._errors import Fenced


class StoreBase:
    """Holds the connection; table mixins add the typed methods."""

    def __init__(self, conn: Db, *, clock: Callable[[], float]) -> None:
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
    def _write(self, *, fenced: bool = True) -> Iterator[Db]:
        """One write transaction, committed before the caller's method returns.

        The write lock is taken up front (SQLite's ``BEGIN IMMEDIATE``, an advisory lock
        on PostgreSQL), so a second process (say an operator's sqlite3 shell, or a
        standby Conductor) makes us wait instead of failing half-way through. While the
        store is fenced (``fenced`` leaves that out: the lease methods themselves) the
        transaction first checks that our lease still stands and raises :class:`Fenced`
        if another holder took it: the check and the write commit together, so no write
        of a deposed leader can land after its successor's first.
        """
        conn = self._conn
        conn.begin_write()
        try:
            if fenced and self._fence is not None:
                try:
                    self._check_fence(conn, *self._fence)
                except Fenced:
                    if self.on_fenced is not None:
                        self.on_fenced()
                    raise
            yield conn
            conn.commit()
            if fenced:  # the lease's own bookkeeping changes no data a reader holds
                self.commits += 1
        except BaseException:
            conn.rollback()
            raise

    @staticmethod
    def _check_fence(conn: Db, name: str, holder: str, token: int) -> None:
        # Inside the write transaction, under the write lock (SQLite's, or the advisory
        # lock every PostgreSQL writer takes, lease changes included): the lease cannot
        # change before COMMIT.
        row = conn.execute("SELECT holder, token FROM leases WHERE name = ?", (name,)).fetchone()
        if row is None or row[0] != holder or int(row[1]) != token:
            raise Fenced(
                f"the {name!r} lease (token {token}) was taken over by another Conductor; "
                "this one is no longer the leader and may not write"
            )

    def _read(self, sql: str, params: Sequence[object] = ()) -> list[Row]:
        return self._conn.execute(sql, params).fetchall()

    def close(self) -> None:
        """Close the database (idempotent)."""
        self._conn.close()
