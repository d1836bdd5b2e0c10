"""Nodes: what must survive a Conductor restart about a node id (its incarnation).

The live state of nodes (ready, disconnected, lost) is the NodeRegistry's, in memory;
only the incarnation token of the agent last accepted for each node id is durable, so
a restarted Conductor still recognises another agent claiming that id.
"""

from __future__ import annotations

from ._base import StoreBase


class NodeTable(StoreBase):
    def get_node_incarnation(self, node_id: str) -> str | None:
        """The incarnation token last accepted for ``node_id``, or None."""
        rows = self._read("SELECT incarnation FROM nodes WHERE node_id = ?", (node_id,))
        return rows[0]["incarnation"] if rows else None

    def set_node_incarnation(self, node_id: str, incarnation: str) -> None:
        """Record that ``incarnation`` now speaks for ``node_id`` (durable on return)."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO nodes (node_id, incarnation, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT(node_id) DO UPDATE SET incarnation = excluded.incarnation, "
                "updated_at = excluded.updated_at",
                (node_id, incarnation, self._clock()),
            )
