"""The connection the table modules talk to: one small interface, two engines.

:class:`Db` is the part of a DB-API connection the store uses, with the differences
between engines taken out (see :mod:`._dialect`): ``execute`` takes ``?`` placeholders
everywhere, a row answers to its column's name and its position, a broken constraint is
one :class:`~._errors.ConstraintViolation` (which column, which kind), and a write
transaction is :meth:`Db.begin_write` / :meth:`Db.commit`. :class:`SqliteDb` is here;
the PostgreSQL one is :mod:`._postgres` (imported only when a URL asks for it, so a
SQLite Conductor never loads the driver).
"""

from __future__ import annotations

import abc
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Protocol

from ._dialect import Dialect, begin_write
from ._errors import ConstraintViolation


class Row(Protocol):
    """One result row: ``row["name"]``, ``row[0]``, ``tuple(row)``."""

    def __getitem__(self, key: int | str, /) -> Any: ...
    def __iter__(self) -> Iterator[Any]: ...
    def __len__(self) -> int: ...


class Cursor(Protocol):
    """What a statement gives back."""

    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> list[Any]: ...


class Db(abc.ABC):
    """A connection of one engine, used from one thread at a time."""

    dialect: Dialect

    @abc.abstractmethod
    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor:
        """Run one statement (``?`` placeholders). Raises :class:`ConstraintViolation`."""

    @abc.abstractmethod
    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> int:
        """Run one statement per row; returns how many rows it changed in all."""

    @abc.abstractmethod
    def run_script_statement(self, sql: str) -> None:
        """Run one statement of a migration (no parameters), translated for the engine."""

    @property
    @abc.abstractmethod
    def in_transaction(self) -> bool: ...

    def begin_write(self) -> None:
        """Open a write transaction holding the database's write lock (one writer at a
        time, across every process that shares the database)."""
        self.execute(begin_write(self.dialect))

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        if self.in_transaction:
            self.execute("ROLLBACK")

    @abc.abstractmethod
    def schema_version(self) -> int:
        """The version the migrations left the database at (0: a new database)."""

    @abc.abstractmethod
    def set_schema_version(self, version: int) -> None:
        """Record ``version``, inside the caller's write transaction."""

    @abc.abstractmethod
    def close(self) -> None:
        """Close the connection (idempotent)."""


_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (.+)$")


class SqliteDb(Db):
    """A :mod:`sqlite3` connection in autocommit mode (we issue BEGIN/COMMIT)."""

    dialect = Dialect.SQLITE

    def __init__(self, conn: sqlite3.Connection) -> None:
        conn.row_factory = sqlite3.Row
        self.raw = conn

    def execute(self, sql: str, params: Sequence[object] = ()) -> Cursor:
        try:
            return self.raw.execute(sql, params)
        except sqlite3.IntegrityError as exc:
            raise _violation(exc) from exc

    def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> int:
        try:
            return self.raw.executemany(sql, rows).rowcount
        except sqlite3.IntegrityError as exc:
            raise _violation(exc) from exc

    def run_script_statement(self, sql: str) -> None:
        self.raw.execute(sql)

    @property
    def in_transaction(self) -> bool:
        return self.raw.in_transaction

    def schema_version(self) -> int:
        return int(self.raw.execute("PRAGMA user_version").fetchone()[0])

    def set_schema_version(self, version: int) -> None:
        # PRAGMA takes no parameters; the value is our own int.
        self.raw.execute(f"PRAGMA user_version = {int(version)}")

    def close(self) -> None:
        self.raw.close()


def _violation(exc: sqlite3.IntegrityError) -> ConstraintViolation:
    text = str(exc)
    if match := _SQLITE_UNIQUE.search(text):
        return ConstraintViolation("unique", match.group(1), text)
    if "FOREIGN KEY" in text:
        return ConstraintViolation("foreign_key", "", text)
    return ConstraintViolation("other", "", text)
