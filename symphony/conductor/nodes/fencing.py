"""Node identity fencing: one incarnation of a node id at a time, never two copies.

A node id may be claimed by a different agent than the one that ran its jobs: a copy of
the machine, a second agent started by mistake, a container that came back with fresh
state. Each agent sends its *incarnation* token in its hello (protocol 2; see
:mod:`symphony.node.incarnation`). The registry records the token of the agent it
accepted for each node id, durably (:class:`IncarnationBook`), and applies this rule:

- same token (or a v1 node without one): the same agent; reconnect and re-adopt as usual;
- another token while the node id is connected: refused, as any second connection;
- another token while the previous incarnation is *disconnected*: refused until its node
  timeout (counted from its disconnection) has passed. The previous incarnation's jobs
  may still be running where it left them, and the newcomer knows nothing of them: its
  hello listing says nothing about them. At the deadline the node id is declared
  ``lost`` like any node gone silent, its instances are rescheduled the normal way, and
  the newcomer's next hello is accepted;
- another token after a Conductor restart, before the previous incarnation came back:
  the same, with the timeout counted from the registry's start (when the previous
  incarnation may have been cut off at the latest), and at least the registry's restart
  grace (the previous agent may be waiting out its reconnect backoff).

The previous incarnation may come back meanwhile (same token): it is accepted and keeps
its jobs. One that comes back after it was declared lost finds its instances
rescheduled, and its stale copies are stopped, as for any node lost past its timeout.
"""

from __future__ import annotations

from typing import Protocol


class IncarnationBook(Protocol):
    """Where the registry keeps the accepted incarnation of each node id (the Store)."""

    def get_node_incarnation(self, node_id: str) -> str | None:
        """The token last accepted for ``node_id``, or None."""

    def set_node_incarnation(self, node_id: str, incarnation: str) -> None:
        """Record ``incarnation`` as the one speaking for ``node_id``."""


class MemoryIncarnations:
    """An :class:`IncarnationBook` in memory: for a registry without a store (tests)."""

    def __init__(self) -> None:
        self._tokens: dict[str, str] = {}

    def get_node_incarnation(self, node_id: str) -> str | None:
        return self._tokens.get(node_id)

    def set_node_incarnation(self, node_id: str, incarnation: str) -> None:
        self._tokens[node_id] = incarnation


def is_other_incarnation(offered: str | None, known: str | None) -> bool:
    """True when ``offered`` is a different incarnation than the ``known`` one.

    Either side unknown (a v1 node, or a node id never seen with a token) cannot be
    told apart: it is treated as the same incarnation, as before protocol 2.
    """
    return offered is not None and known is not None and offered != known


def refusal(node_id: str, wait: float) -> str:
    """Why a new incarnation of ``node_id`` is refused for ``wait`` more seconds."""
    return (
        f"node id {node_id!r} was run by another agent (another incarnation: a different "
        f"state directory) whose jobs may still be running; this agent is refused until "
        f"that one is declared lost and its instances are rescheduled, in {wait:.1f} s"
    )
