"""Join tokens: store a hash, check, spend once (atomically), expire."""

from __future__ import annotations

from ..binding import JoinBinding
from ._base import StoreBase
from ._db import Db, Row
from ._errors import AlreadyExists, ConstraintViolation
from ._records import JoinTokenRecord

_COLUMNS = "id, secret_hash, created_at, expires_at, single_use, used_at, binding"


def _record(row: Row) -> JoinTokenRecord:
    return JoinTokenRecord(
        id=row["id"],
        secret_hash=row["secret_hash"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        single_use=bool(row["single_use"]),
        used_at=row["used_at"],
        binding=JoinBinding.loads(row["binding"]),
    )


def _known(conn: Db, node_id: str, token_id: str) -> bool:
    """Whether ``node_id`` is enrolled for ``token_id``'s purposes: joined with another
    token, or known from a hello (whatever the certificate: an id that runs with files
    of its own is a node's identity too). An id this very token enrolled and that never
    said hello is not: a join whose answer was lost (a dropped connection, a timeout, a
    node that crashed before it kept its certificate) is tried again with the same
    token, and nothing runs under that id to be taken over."""
    rows = conn.execute(
        "SELECT 1 FROM node_enrolments WHERE node_id = ? AND token_id <> ? "
        "UNION ALL SELECT 1 FROM nodes WHERE node_id = ?",
        (node_id, token_id, node_id),
    ).fetchall()
    return bool(rows)


class TokenTable(StoreBase):
    def add_join_token(
        self,
        token_id: str,
        secret_hash: str,
        *,
        expires_at: float | None,
        single_use: bool = True,
        binding: JoinBinding | None = None,
    ) -> JoinTokenRecord:
        """Store a new token (only the hash of its secret) and what it binds."""
        record = JoinTokenRecord(
            token_id, secret_hash, self._clock(), expires_at, single_use, binding=binding
        )
        stored = None if binding is None else binding.dumps()
        try:
            with self._write() as conn:
                conn.execute(
                    f"INSERT INTO join_tokens ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, NULL, ?)",
                    (token_id, secret_hash, record.created_at, expires_at, int(single_use), stored),
                )
        except ConstraintViolation as exc:
            if exc.kind != "unique":
                raise
            raise AlreadyExists(f"join token {token_id!r} exists already") from None
        return record

    def get_join_token(self, token_id: str) -> JoinTokenRecord | None:
        rows = self._read(f"SELECT {_COLUMNS} FROM join_tokens WHERE id = ?", (token_id,))
        return _record(rows[0]) if rows else None

    def list_join_tokens(self) -> list[JoinTokenRecord]:
        return [_record(r) for r in self._read(f"SELECT {_COLUMNS} FROM join_tokens ORDER BY id")]

    def use_join_token(
        self, token_id: str, node_id: str | None = None, *, new_node: bool = False
    ) -> JoinTokenRecord | None:
        """Spend the token now if it is usable; None if unknown, expired or spent.

        Check the secret's hash first (the caller's job): this only records the use,
        in one conditional UPDATE, so two nodes racing with one single-use token
        cannot both get it. With ``node_id``, the same transaction records the node id
        as enrolled and gives it the token's binding (or removes the one it had, for a
        token that binds nothing). With ``new_node`` too, an id that is enrolled
        already (by another token), or that a node has said hello as, is refused with
        :class:`AlreadyExists` and nothing changes: checked in the transaction, so two
        Conductors on one database cannot both enrol it.
        """
        now = self._clock()
        with self._write() as conn:
            if node_id is not None and new_node and _known(conn, node_id, token_id):
                raise AlreadyExists(f"node id {node_id!r} is enrolled already")
            cursor = conn.execute(
                "UPDATE join_tokens SET used_at = ? WHERE id = ? "
                "AND (single_use = 0 OR used_at IS NULL) "
                "AND (expires_at IS NULL OR expires_at > ?)",
                (now, token_id, now),
            )
            if cursor.rowcount and node_id is not None:
                conn.execute(
                    "INSERT INTO node_enrolments (node_id, token_id, enrolled_at) "
                    "VALUES (?, ?, ?) ON CONFLICT(node_id) DO UPDATE SET "
                    "token_id = excluded.token_id, enrolled_at = excluded.enrolled_at",
                    (node_id, token_id, now),
                )
                conn.execute("DELETE FROM node_bindings WHERE node_id = ?", (node_id,))
                conn.execute(
                    "INSERT INTO node_bindings (node_id, binding, token_id, bound_at) "
                    "SELECT ?, binding, id, ? FROM join_tokens "
                    "WHERE id = ? AND binding IS NOT NULL",
                    (node_id, now, token_id),
                )
        return self.get_join_token(token_id) if cursor.rowcount else None

    def get_node_binding(self, node_id: str) -> JoinBinding | None:
        """What ``node_id`` may claim, from the token it last joined with (None: free)."""
        rows = self._read("SELECT binding FROM node_bindings WHERE node_id = ?", (node_id,))
        return JoinBinding.loads(rows[0]["binding"]) if rows else None

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
