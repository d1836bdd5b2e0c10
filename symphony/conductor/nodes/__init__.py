"""The Conductor's view of its nodes: the registry, one session per link, the gateway.

Vocabulary:

- **session**: one authenticated WebSocket link from a node, owned by a
  :class:`NodeSession` actor (decodes, validates, forwards heartbeats and statuses,
  sends commands);
- **registry**: the :class:`NodeRegistry` actor, the single owner of every node's
  state (``ready`` / ``disconnected`` / ``lost``), its static resources and latest usage;
- **gateway**: the :class:`Gateway` actor serving the mTLS node endpoint and starting a
  session per accepted connection.
"""

from .gateway import Gateway, GatewaySettings
from .model import NodeState, NodeView
from .registry import NodeRegistry, liveness_timeout
from .session import NodeSession

__all__ = [
    "Gateway",
    "GatewaySettings",
    "NodeRegistry",
    "NodeSession",
    "NodeState",
    "NodeView",
    "liveness_timeout",
]
