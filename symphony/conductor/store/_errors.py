"""Errors raised by the store. One tree::

StoreError
├── SchemaTooNew        the database was written by a newer Symphony
├── NotFound            no deployment / instance / token with that id
├── AlreadyExists       an id is taken
│   └── NameConflict    a deployment name is taken
├── GenerationConflict  the deployment changed since the caller read it
├── CorruptRecord       a stored row no longer parses (e.g. an old spec)
├── RollConflict        a promote or rollback the deployment's versions do not allow
├── ConstraintViolation a write broke a constraint no finer error names
├── StoreUnavailable    the database server cannot be reached (or went away)
└── Fenced              this Conductor's lease was taken over: its writes are refused
"""

from __future__ import annotations

from symphony.errors import SymphonyError


class StoreError(SymphonyError):
    """Base class of every store error."""


class SchemaTooNew(StoreError):
    """The database schema is newer than this code knows."""


class NotFound(StoreError):
    """The record does not exist."""


class AlreadyExists(StoreError):
    """A record with that id exists already."""


class NameConflict(AlreadyExists):
    """Another deployment has that name; ``name`` says which."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(f"a deployment named {name!r} exists already; choose another name")


class GenerationConflict(StoreError):
    """The deployment's generation is not the one the caller expected (lost update)."""


class CorruptRecord(StoreError):
    """A stored row cannot be turned back into a record."""


class RollConflict(StoreError):
    """A promote with no canaries waiting, or a rollback to a version not kept."""


class ConstraintViolation(StoreError):
    """A write broke a constraint of the schema, in either engine's words made one:
    ``kind`` is ``unique``, ``foreign_key`` or ``other``; for ``unique``, ``columns``
    names them as ``table.column`` (comma-separated). The table modules turn the ones
    they expect into :class:`NameConflict`, :class:`AlreadyExists` or :class:`NotFound`.
    """

    def __init__(self, kind: str, columns: str, message: str) -> None:
        self.kind = kind
        self.columns = columns
        super().__init__(message)


class StoreUnavailable(StoreError):
    """The database server refused the connection or went away; the write (if any) was
    not acknowledged. The next call connects again."""


class Fenced(StoreError):
    """A write by a Conductor whose lease another Conductor holds now (it is no longer
    the leader); nothing of the write was kept."""
