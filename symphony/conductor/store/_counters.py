"""Counters: totals that only grow, kept across Conductor restarts (for ``/metrics``).

A Prometheus counter must never fall (a fall reads as a reset). Sums over the current
records do fall when records go (a deleted deployment takes its instances' restarts
with it), so what is counted is added here as it happens.
"""

from __future__ import annotations

from ._base import StoreBase
from ._db import Db

#: Restarts of instances' processes on their nodes (``symphony_restarts_total``).
RESTARTS = "restarts"


class CounterTable(StoreBase):
    def add_to_counter(self, name: str, amount: int) -> None:
        """Add ``amount`` (>= 0: a counter only grows) to the counter ``name``."""
        _check(name, amount)
        if amount:
            with self._write() as conn:
                add_to_counter(conn, name, amount)

    def counter(self, name: str) -> int:
        """The counter's value (0 if nothing was ever added)."""
        rows = self._read("SELECT value FROM counters WHERE name = ?", (name,))
        return int(rows[0]["value"]) if rows else 0


def add_to_counter(conn: Db, name: str, amount: int) -> None:
    """Add ``amount`` (>= 0) to the counter ``name`` in ``conn``'s transaction."""
    _check(name, amount)
    if amount:
        conn.execute(
            "INSERT INTO counters (name, value) VALUES (?, ?) "
            "ON CONFLICT(name) DO UPDATE SET value = counters.value + excluded.value",
            (name, amount),
        )


def _check(name: str, amount: int) -> None:
    if amount < 0:
        raise ValueError(f"a counter only grows; cannot add {amount} to {name!r}")
