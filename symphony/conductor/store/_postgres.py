"""The store on PostgreSQL: psycopg 3, synchronous, on the caller's thread.

Why synchronous on the event-loop thread, like SQLite: the store's methods are
synchronous (actors everywhere call them between two awaits, and "durable when the
method returns" is their contract), so every write waits for its commit whichever
thread runs it: a worker thread adds its hop and frees the loop only for a caller that
awaits it, which a synchronous method cannot. Measured with ``python -m
benchmarks.store_commit`` (PostgreSQL 15 on loopback, 2 cores loaded by other work, a
virtual disk; two runs), one ``create_deployment`` (one transaction of four
statements), median; SQLite's worker figure is two hops (its connection serves only
the thread that opened it):

=====================================  ==============  ================  ==============
                                       on the loop     in a worker       loop lag while
                                       thread          thread            on the loop
=====================================  ==============  ================  ==============
PostgreSQL, ``synchronous_commit=on``  12 - 18 ms      11 - 16 ms        19 - 25 ms
PostgreSQL, ``synchronous_commit=off`` 1.6 - 5.2 ms    2.3 - 3.3 ms      3 - 10 ms
SQLite (WAL, ``synchronous=NORMAL``)   0.2 ms          1.4 - 2.0 ms      0.3 - 0.8 ms
=====================================  ==============  ================  ==============

(In a worker thread the loop lag stays near 1 ms, but the caller waits as long.) The
commit's flush to disk is most of PostgreSQL's cost: on a server whose disk flushes
fast it is a few round trips (~0.3 ms each here). ``synchronous_commit=off`` (in the URL:
``?options=-csynchronous_commit%3Doff``) is close to SQLite's ``NORMAL``: a
crash of the *database server* may lose the last ~0.6 s of commits; a crash of the
Conductor loses none. What does move off the loop are the reads of *everything* (the
API's snapshots, tens of milliseconds with thousands of rows): :class:`ReaderPool` keeps
a small pool of connections for worker threads (``Store.read_everything``).

psycopg 3 (not psycopg2, asyncpg or pg8000): it is the maintained successor of the
most used PostgreSQL driver, speaks the extended protocol with server-side prepared
statements (a repeated statement skips parsing), ships binary wheels, and its
synchronous connection is plain blocking I/O that runs on any thread, where its async
one needs asyncio (it does not run under Trio).
"""

from __future__ import annotations

import functools
import re
import threading
from collections.abc import Iterable, Sequence
from typing import Any

import psycopg
from psycopg import errors, pq

from ._db import Cursor, Db
from ._dialect import PG_VERSION_TABLE, Dialect, pg_ddl, pg_placeholders
from ._errors import ConstraintViolation, StoreUnavailable

_KEY = re.compile(r"Key \(([^)]*)\)=")


class PgRow(tuple[Any, ...]):
    """A row that answers to a column's name as well as to its position."""

    __slots__ = ()
    _index: dict[str, int]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._index[key])
        return tuple.__getitem__(self, key)


@functools.lru_cache(maxsize=512)
def _row_class(names: tuple[str, ...]) -> type[PgRow]:
    index = {name: i for i, name in enumerate(names)}
    return type("Row", (PgRow,), {"__slots__": (), "_index": index})


def _row_factory(cursor: psycopg.Cursor[Any]) -> Any:
    return _row_class(tuple(c.name for c in cursor.description or ()))


def connect(url: str, *, connect_timeout: float = 10.0) -> psycopg.Connection[Any]:
    """A connection in autocommit mode (we issue BEGIN/COMMIT), or StoreUnavailable."""
    try:
        return psycopg.connect(
            url,
            autocommit=True,
            row_factory=_row_factory,
            connect_timeout=max(1, int(connect_timeout)),
            application_name="symphony-conductor",
        )
    except psycopg.OperationalError as exc:
        raise StoreUnavailable(f"cannot connect to the PostgreSQL database: {exc}") from None


class PostgresDb(Db):
    """One psycopg connection; reconnects on the next statement after losing it."""

    dialect = Dialect.POSTGRESQL

    def __init__(self, url: str) -> None:
        self._url = url
        self.raw = connect(url)

    def _conn(self) -> psycopg.Connection[Any]:
        if self.raw.broken or self.raw.closed:
            if self.raw.closed and not self.raw.broken:
                raise StoreUnavailable("the store's database connection is closed")
            self.raw = connect(self._url)
        return self.raw

    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor:
        conn = self._conn()
        try:
            if not params:  # as it is: no placeholders, and may hold several statements
                return conn.execute(sql.encode())
            return conn.execute(pg_placeholders(sql), _text_safe(params))
        except psycopg.IntegrityError as exc:
            raise _violation(exc) from exc
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"the PostgreSQL database went away: {exc}") from None

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> int:
        conn = self._conn()
        try:
            with conn.cursor() as cursor:
                cursor.executemany(pg_placeholders(sql), [_text_safe(row) for row in rows])
                return max(cursor.rowcount, 0)
        except psycopg.IntegrityError as exc:
            raise _violation(exc) from exc
        except psycopg.OperationalError as exc:
            raise StoreUnavailable(f"the PostgreSQL database went away: {exc}") from None

    def run_script_statement(self, sql: str) -> None:
        self._conn().execute(pg_ddl(sql).encode())

    @property
    def in_transaction(self) -> bool:
        if self.raw.closed:
            return False
        return self.raw.info.transaction_status != pq.TransactionStatus.IDLE

    def schema_version(self) -> int:
        conn = self._conn()
        # A query of the catalog, not to_regclass(): that one may answer from a cache
        # older than the commit of a Conductor we waited for under the write lock.
        exists = conn.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_tables WHERE schemaname = current_schema() "
            "AND tablename = %s)",
            (PG_VERSION_TABLE,),
        ).fetchone()
        if exists is None or not exists[0]:
            return 0  # a new database: its first migration creates the table
        row = conn.execute(f"SELECT version FROM {PG_VERSION_TABLE}".encode()).fetchone()
        return 0 if row is None else int(row[0])

    def set_schema_version(self, version: int) -> None:
        # Inside the migration's transaction, under the write lock: two Conductors never
        # race to create the table.
        conn = self._conn()
        conn.execute(
            f"CREATE TABLE IF NOT EXISTS {PG_VERSION_TABLE} (version BIGINT NOT NULL)".encode()
        )
        conn.execute(f"DELETE FROM {PG_VERSION_TABLE}".encode())
        conn.execute(f"INSERT INTO {PG_VERSION_TABLE} (version) VALUES (%s)", (version,))

    def close(self) -> None:
        self.raw.close()


def _text_safe(params: Sequence[object]) -> Sequence[object]:
    """``params`` with each NUL character of a string replaced by U+FFFD: PostgreSQL's
    text cannot hold NUL (SQLite's can), and a peer's text (a node's reason for an
    instance's state) must not fail the write that records it."""
    if not any(isinstance(p, str) and "\0" in p for p in params):
        return params
    return [p.replace("\0", "\ufffd") if isinstance(p, str) else p for p in params]


def _violation(exc: psycopg.IntegrityError) -> ConstraintViolation:
    diag = exc.diag
    if isinstance(exc, errors.UniqueViolation):
        match = _KEY.search(diag.message_detail or "")
        names = [n.strip() for n in match.group(1).split(",")] if match else []
        columns = ", ".join(f"{diag.table_name}.{name}" for name in names)
        return ConstraintViolation("unique", columns, str(exc))
    if isinstance(exc, errors.ForeignKeyViolation):
        return ConstraintViolation("foreign_key", "", str(exc))
    return ConstraintViolation("other", "", str(exc))


class ReaderPool:
    """A few connections for reads in worker threads (a connection serves one thread
    at a time; an idle one is kept for the next read, at most ``size`` of them)."""

    def __init__(self, url: str, *, size: int = 2) -> None:
        self._url = url
        self._size = size
        self._idle: list[PostgresDb] = []
        self._lock = threading.Lock()

    def take(self) -> PostgresDb:
        with self._lock:
            if self._idle:
                return self._idle.pop()
        return PostgresDb(self._url)

    def give_back(self, db: PostgresDb) -> None:
        if db.raw.broken or db.in_transaction:
            db.close()
            return
        with self._lock:
            if len(self._idle) < self._size:
                self._idle.append(db)
                return
        db.close()

    def close(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for db in idle:
            db.close()
