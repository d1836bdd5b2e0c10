"""Where the store lives: ``conductor.store.url`` read into a SQLite path or a server URL.

=====================================  ============================================
``None`` or ``""``                     SQLite: ``<state_dir>/symphony.db`` (default)
``sqlite:///symphony.db``              SQLite: a path relative to the state directory
``sqlite:////var/lib/sym/state.db``    SQLite: an absolute path (four slashes)
``postgresql://user@host:5432/db``     PostgreSQL (``postgres://`` too; libpq's URL,
                                       its query parameters such as ``sslmode``)
=====================================  ============================================

A password belongs in ``~/.pgpass`` or ``PGPASSWORD`` rather than in the URL; either
way :func:`redacted` is what gets logged.
"""

from __future__ import annotations

import re
from pathlib import Path

from ._dialect import Dialect

DEFAULT_FILE = "symphony.db"
_SCHEMES = {
    "sqlite": Dialect.SQLITE,
    "postgresql": Dialect.POSTGRESQL,
    "postgres": Dialect.POSTGRESQL,
}
_PASSWORD = re.compile(r"(://[^/:@]*:)[^@/]*@")


def dialect_of(url: str | None) -> Dialect:
    """Which engine ``url`` names; ``ValueError`` for another scheme."""
    if not url:
        return Dialect.SQLITE
    scheme, sep, _ = url.partition("://")
    if not sep or scheme.lower() not in _SCHEMES:
        raise ValueError(
            f"a store URL starts with sqlite:// or postgresql://, got {redacted(url)!r}"
        )
    return _SCHEMES[scheme.lower()]


def sqlite_path(url: str | None, state_dir: Path) -> Path:
    """The SQLite file a ``sqlite:`` URL (or none) names."""
    if not url:
        return state_dir / DEFAULT_FILE
    rest = url.partition("://")[2]
    if not rest.startswith("/"):
        raise ValueError(f"a SQLite store URL is sqlite:///PATH, got {url!r}")
    path = rest[1:]
    if not path:
        return state_dir / DEFAULT_FILE
    return Path(path) if path.startswith("/") else state_dir / path


def redacted(url: str) -> str:
    """``url`` with any password replaced by ``***`` (for logs and errors)."""
    return _PASSWORD.sub(r"\1***@", url)
