"""Records and messages about nodes, shared by the registry, sessions and the API."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from symphony.actors import ActorRef
from symphony.wire import PROTOCOL_VERSION, Heartbeat, Hello, InstanceStatus, LogChunk

from .window import StatusWindow

NodeState = Literal["ready", "disconnected", "lost"]


@dataclass(frozen=True, slots=True)
class NodeView:
    """A read-only snapshot of one node, as the API and the scheduler see it.

    ``draining`` is an operator's word, apart from ``state`` (the link's): a draining
    node may be ready, disconnected or lost; while it is, it takes no new work and its
    replicas are moved elsewhere.
    """

    node_id: str
    state: NodeState
    groups: tuple[str, ...]
    capacities_total: dict[str, int]
    resources: dict[str, Any]
    usage: dict[str, Any]
    last_heartbeat: float | None  # wall-clock seconds since the epoch
    connected_at: float | None
    remote: str | None
    shared_certificate: bool
    heartbeat_sec: float
    capacities_used: dict[str, int] = field(default_factory=dict)
    draining: bool = False
    #: The protocol version spoken with the node (a job with secrets needs 4).
    protocol_version: int = PROTOCOL_VERSION
    #: The named environments the node reported (protocol 4): what jobs with sources
    #: it can run.
    envs: tuple[str, ...] = ()
    #: The container commands the node reported (protocol 4; empty for older nodes).
    container_runtimes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        """The JSON shape of ``GET /nodes``."""
        return {
            "node_id": self.node_id,
            "state": self.state,
            "draining": self.draining,
            "groups": list(self.groups),
            "capacities_total": self.capacities_total,
            "capacities_used": self.capacities_used,
            "resources": self.resources,
            "usage": self.usage,
            "last_heartbeat": self.last_heartbeat,
            "connected_at": self.connected_at,
            "remote": self.remote,
            "shared_certificate": self.shared_certificate,
            "heartbeat_sec": self.heartbeat_sec,
            "protocol_version": self.protocol_version,
            "envs": list(self.envs),
            "container_runtimes": list(self.container_runtimes),
        }


# ---- messages to the registry ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RegisterNode:
    """A session asks to become the live link of ``hello.node_id`` (reply: None or reason)."""

    session: ActorRef
    hello: Hello
    remote: str
    shared_certificate: bool
    heartbeat_sec: float


@dataclass(frozen=True, slots=True)
class NodeHeartbeat:
    """A session forwards a heartbeat of its node."""

    node_id: str
    session: ActorRef
    heartbeat: Heartbeat


@dataclass(frozen=True, slots=True)
class NodeStatuses:
    """A session forwards instance status updates of its node."""

    node_id: str
    session: ActorRef
    updates: tuple[InstanceStatus, ...]
    #: The link's count of updates on their way (None: nobody counts these).
    window: StatusWindow | None = None


@dataclass(frozen=True, slots=True)
class SessionEnded:
    """A session's link closed (``reason`` says why)."""

    node_id: str
    session: ActorRef
    reason: str


@dataclass(frozen=True, slots=True)
class ListNodes:
    """Ask the registry for every node (reply: list[NodeView], sorted by id)."""


@dataclass(frozen=True, slots=True)
class GetSession:
    """Ask the registry for the live session of a node (reply: ActorRef or None)."""

    node_id: str


@dataclass(frozen=True, slots=True)
class ExpectNodes:
    """Nodes the store says run instances (told once the Conductor has started): each one
    not heard of yet is held as ``disconnected`` from the registry's start, so that, if
    it never says hello, it is declared lost after its node timeout like any other."""

    node_ids: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class NodeChanged:
    """Told to registry subscribers when a node's state, capacities or groups change."""

    view: NodeView
    previous_state: NodeState | None
    session: ActorRef | None = None  # the live session when the node is ready


@dataclass(frozen=True, slots=True)
class InstancesReported:
    """Told to subscribers: what a node reports it runs (hello) or status updates."""

    node_id: str
    updates: tuple[InstanceStatus, ...]
    full: bool  # True: a hello's complete list; instances absent from it are not running
    session: ActorRef | None = None  # where to send commands for this node
    #: The link's count of updates on their way: settle ``updates`` once routed.
    window: StatusWindow | None = None
    #: A hello's groups (``full`` only): what the node says it is, before it is ready.
    groups: tuple[str, ...] = ()

    def settle(self) -> None:
        """Count this report's updates off its link's window (once they are routed)."""
        if self.window is not None:
            self.window.settled(len(self.updates))


@dataclass(frozen=True, slots=True)
class SetDraining:
    """Start or end draining a node (reply: its NodeView, or None for an unknown node).

    Durable before the reply: a Conductor restart keeps the node draining.
    """

    node_id: str
    draining: bool


# ---- messages to a session ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class CloseSession:
    """Tell a session to close its link (for example: the node was declared lost)."""

    reason: str


@dataclass(frozen=True, slots=True)
class LinkClosed:
    """What a session hands every log sink still open when it ends: the node's link
    closed (``reason`` says how), so no more chunks will come for that request. Not a
    :class:`LogChunk` with a reason, which is the node's own refusal."""

    request_id: str
    reason: str


#: Where a session hands the log chunks of one request (called on the session's task,
#: or on the task that stops the session: it must not block).
LogSink = Callable[[LogChunk | LinkClosed], None]


@dataclass(frozen=True, slots=True)
class OpenLogStream:
    """Tell a session: hand the chunks of log request ``request_id`` to ``sink`` (sent
    before the request itself, since the node may answer at once)."""

    request_id: str
    sink: LogSink


@dataclass(frozen=True, slots=True)
class CloseLogStream:
    """Tell a session: forget the sink of ``request_id`` (late chunks are dropped)."""

    request_id: str
