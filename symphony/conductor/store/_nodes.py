"""Nodes: what must survive a Conductor restart about a node id.

The live state of nodes (ready, disconnected, lost) is the NodeRegistry's, in memory;
durable are the incarnation token of the agent last accepted for each node id, so a
restarted Conductor still recognises another agent claiming that id, and which nodes an
operator is draining, so a restart does not undo a drain.
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

    def draining_nodes(self) -> dict[str, float]:
        """Every node being drained, with when its drain began (wall clock)."""
        rows = self._read("SELECT node_id, since FROM node_drains ORDER BY node_id", ())
        return {row["node_id"]: row["since"] for row in rows}

    def set_node_draining(self, node_id: str, draining: bool) -> None:
        """Start (kept: the first start's time) or end draining ``node_id``; durable on
        return."""
        with self._write() as conn:
            if draining:
                conn.execute(
                    "INSERT INTO node_drains (node_id, since) VALUES (?, ?) "
                    "ON CONFLICT(node_id) DO NOTHING",
                    (node_id, self._clock()),
                )
            else:
                conn.execute("DELETE FROM node_drains WHERE node_id = ?", (node_id,))
