"""Join tokens: store a hash, check, spend once (atomically), expire."""

from __future__ import annotations

import sqlite3

from ._base import StoreBase
from ._errors import AlreadyExists
from ._records import JoinTokenRecord

_COLUMNS = "id, secret_hash, created_at, expires_at, single_use, used_at"


def _record(row: sqlite3.Row) -> JoinTokenRecord:
    return JoinTokenRecord(
        id=row["id"],
        secret_hash=row["secret_hash"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        single_use=bool(row["single_use"]),
        used_at=row["used_at"],
    )


class TokenTable(StoreBase):
    def add_join_token(
        self,
        token_id: str,
        secret_hash: str,
        *,
        expires_at: float | None,
        single_use: bool = True,
    ) -> JoinTokenRecord:
        """Store a new token (only the hash of its secret)."""
        record = JoinTokenRecord(token_id, secret_hash, self._clock(), expires_at, single_use)
        try:
            with self._write() as conn:
                conn.execute(
                    f"INSERT INTO join_tokens ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL)",
                    (token_id, secret_hash, record.created_at, expires_at, int(single_use)),
                )
        except sqlite3.IntegrityError:
            raise AlreadyExists(f"join token {token_id!r} exists already") from None
        return record

    def get_join_token(self, token_id: str) -> JoinTokenRecord | None:
        rows = self._read(f"SELECT {_COLUMNS} FROM join_tokens WHERE id = ?", (token_id,))
        return _record(rows[0]) if rows else None

    def list_join_tokens(self) -> list[JoinTokenRecord]:
        return [_record(r) for r in self._read(f"SELECT {_COLUMNS} FROM join_tokens ORDER BY id")]

    def use_join_token(self, token_id: str) -> JoinTokenRecord | None:
        """Spend the token now if it is usable; None if unknown, expired or spent.

        Check the secret's hash first (the caller's job): this only records the use,
        in one conditional UPDATE, so two nodes racing with one single-use token
        cannot both get it.
        """
        now = self._clock()
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE join_tokens SET used_at = ? WHERE id = ? "
                "AND (single_use = 0 OR used_at IS NULL) "
                "AND (expires_at IS NULL OR expires_at > ?)",
                (now, token_id, now),
            )
        return self.get_join_token(token_id) if cursor.rowcount else None

    def delete_join_token(self, token_id: str) -> bool:
        with self._write() as conn:
            cursor = conn.execute("DELETE FROM join_tokens WHERE id = ?", (token_id,))
        return cursor.rowcount > 0

    def delete_expired_join_tokens(self) -> int:
        """Delete expired and spent single-use tokens; returns how many."""
        with self._write() as conn:
            cursor = conn.execute(
                "DELETE FROM join_tokens WHERE (expires_at IS NOT NULL AND expires_at <= ?) "
                "OR (single_use = 1 AND used_at IS NOT NULL)",
                (self._clock(),),
            )
        return cursor.rowcount
