"""Draining: an operator takes a node out of placement without taking it down.

``POST /nodes/{id}/drain`` marks a node *draining*: it keeps running what it runs, gets
no new placements (the placement core leaves it out), and each deployment moves its
replicas elsewhere, replacement first (``deployments/draining.py``). ``undrain`` ends
that. The mark belongs to the node id, not to a link: it holds while the node is
disconnected or lost, and across Conductor restarts (the registry keeps it in a
:class:`DrainBook`, the Store), until the node is undrained.
"""

from __future__ import annotations

from typing import Protocol


class DrainBook(Protocol):
    """Where the registry keeps which nodes are being drained (the Store)."""

    def draining_nodes(self) -> dict[str, float]:
        """Every node being drained, with when its drain began."""

    def set_node_draining(self, node_id: str, draining: bool) -> None:
        """Start or end draining ``node_id``, durably."""


class MemoryDrains:
    """A :class:`DrainBook` in memory (a registry without a store: tests, embedding)."""

    def __init__(self) -> None:
        self._since: dict[str, float] = {}

    def draining_nodes(self) -> dict[str, float]:
        return dict(self._since)

    def set_node_draining(self, node_id: str, draining: bool) -> None:
        if draining:
            self._since.setdefault(node_id, 0.0)
        else:
            self._since.pop(node_id, None)
