"""Fingerprints of the material Conductors sharing a database must share.

The CA, the API token and the secrets key are files each Conductor is given (the
database never holds a key). A Conductor given the wrong file would work on its own and
fail only at a failover (nodes refusing its certificate, clients their token), so each
Conductor records the fingerprint of what it was given on its first start, and a later
one compares: the first to start on a database sets what the others must match.
"""

from __future__ import annotations

from ._base import StoreBase


class SharedMaterialTable(StoreBase):
    def pin_shared_material(self, name: str, fingerprint: str) -> str:
        """Record ``fingerprint`` for ``name`` unless one is recorded already; returns the
        recorded one (compare it with yours)."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO shared_material (name, fingerprint, recorded_at) VALUES (?, ?, ?) "
                "ON CONFLICT(name) DO NOTHING",
                (name, fingerprint, self._clock()),
            )
            row = conn.execute(
                "SELECT fingerprint FROM shared_material WHERE name = ?", (name,)
            ).fetchone()
        return str(row[0])
