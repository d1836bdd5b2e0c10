"""Secrets: sealed values by name, with when they were created and last set.

The store never sees a value: the caller (:class:`symphony.conductor.secrets.SecretVault`)
hands it a sealed blob (AES-GCM) and opens what it reads back.
"""

from __future__ import annotations

from dataclasses import dataclass

from ._base import StoreBase


@dataclass(frozen=True, slots=True)
class SecretRecord:
    """What may be shown of a secret: its name and dates, never its value."""

    name: str
    created_at: float
    updated_at: float


class SecretTable(StoreBase):
    def put_secret(self, name: str, sealed: bytes) -> tuple[SecretRecord, bool]:
        """Store ``sealed`` under ``name`` (replacing a value set before); returns the
        record and whether it is new."""
        now = self._clock()
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE secrets SET sealed = ?, updated_at = ? WHERE name = ?", (sealed, now, name)
            )
            created = cursor.rowcount == 0
            if created:
                conn.execute(
                    "INSERT INTO secrets (name, sealed, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?)",
                    (name, sealed, now, now),
                )
        record = self.get_secret_record(name)
        assert record is not None  # written just now, in this thread
        return record, created

    def get_secret_record(self, name: str) -> SecretRecord | None:
        rows = self._read(
            "SELECT name, created_at, updated_at FROM secrets WHERE name = ?", (name,)
        )
        return SecretRecord(*rows[0]) if rows else None

    def get_sealed_secret(self, name: str) -> bytes | None:
        """The sealed value of ``name`` (None: no such secret)."""
        rows = self._read("SELECT sealed FROM secrets WHERE name = ?", (name,))
        return bytes(rows[0]["sealed"]) if rows else None

    def list_secrets(self) -> list[SecretRecord]:
        rows = self._read("SELECT name, created_at, updated_at FROM secrets ORDER BY name")
        return [SecretRecord(*row) for row in rows]

    def delete_secret(self, name: str) -> bool:
        with self._write() as conn:
            cursor = conn.execute("DELETE FROM secrets WHERE name = ?", (name,))
        return cursor.rowcount > 0
