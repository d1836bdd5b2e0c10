"""The node <-> conductor protocol: typed messages, a validating codec, mTLS WebSockets.

Layers, bottom up (each usable alone):

- :mod:`~symphony.wire.errors`: the one exception tree (also used by :mod:`symphony.pki`);
- :mod:`~symphony.wire.messages`: frozen dataclasses, one per message type
  (:mod:`~symphony.wire.join`: those of the join exchange);
- :mod:`~symphony.wire.codec`: ``encode``/``decode`` of frames, sans-IO;
- :mod:`~symphony.wire.connection`, :mod:`~symphony.wire.server`,
  :mod:`~symphony.wire.client`, :mod:`~symphony.wire.hello`: the Trio transport
  (:mod:`~symphony.wire.join_client`: the node's side of the join exchange).

The protocol itself is described in ``docs/protocol.md``.
"""

from typing import TYPE_CHECKING

from .codec import DEFAULT_MAX_FRAME_SIZE, decode, encode
from .connection import (
    CLOSE_GOING_AWAY,
    CLOSE_INTERNAL_ERROR,
    CLOSE_NORMAL,
    CLOSE_POLICY_VIOLATION,
    CLOSE_PROTOCOL_ERROR,
    ConductorConnection,
    NodeConnection,
    WireConnection,
)
from .errors import (
    ConnectFailed,
    ConnectionClosed,
    ConnectTimeout,
    EncodeError,
    FrameTooLarge,
    HelloRefused,
    LinkError,
    ProtocolError,
    ServerUntrusted,
    TLSRejected,
    TransportError,
    VersionMismatch,
)
from .hello import answer_hello, client_hello, receive_hello
from .identity import peer_node_id
from .jobspec import (
    JobConfig,
    JobGit,
    JobHealthCheck,
    JobRestartPolicy,
    JobSpec,
    job_spec_from_dict,
)
from .join import JoinCA, JoinOk, JoinRefused, JoinRequest
from .messages import (
    INSTANCE_STATES,
    MAX_USAGE_INSTANCES,
    MESSAGE_TYPES,
    UPLOAD_CHUNK,
    Error,
    Heartbeat,
    Hello,
    HelloAccepted,
    HelloRejected,
    InstanceReport,
    InstanceSecrets,
    InstanceStatus,
    InstanceUsage,
    LogCancel,
    LogChunk,
    LogCredit,
    LogRequest,
    Message,
    OpenStream,
    StartInstance,
    StatusBatch,
    StopInstance,
    UploadData,
    UploadRead,
    message,
)
from .server import NODE_WS_PATH, serve_nodes
from .version import (
    MIN_PROTOCOL_VERSION,
    NODE_MIN_PROTOCOL_VERSION,
    PROTOCOL_VERSION,
    negotiate_version,
)

__all__ = [
    "CLOSE_GOING_AWAY",
    "CLOSE_INTERNAL_ERROR",
    "CLOSE_NORMAL",
    "CLOSE_POLICY_VIOLATION",
    "CLOSE_PROTOCOL_ERROR",
    "DEFAULT_MAX_FRAME_SIZE",
    "INSTANCE_STATES",
    "MAX_USAGE_INSTANCES",
    "MESSAGE_TYPES",
    "MIN_PROTOCOL_VERSION",
    "NODE_MIN_PROTOCOL_VERSION",
    "NODE_WS_PATH",
    "PROTOCOL_VERSION",
    "UPLOAD_CHUNK",
    "ConductorConnection",
    "ConnectFailed",
    "ConnectTimeout",
    "ConnectionClosed",
    "EncodeError",
    "Error",
    "FrameTooLarge",
    "Heartbeat",
    "Hello",
    "HelloAccepted",
    "HelloRefused",
    "HelloRejected",
    "InstanceReport",
    "InstanceSecrets",
    "InstanceStatus",
    "InstanceUsage",
    "JobConfig",
    "JobGit",
    "JobHealthCheck",
    "JobRestartPolicy",
    "JobSpec",
    "JoinCA",
    "JoinOk",
    "JoinRefused",
    "JoinRequest",
    "LinkError",
    "LogCancel",
    "LogChunk",
    "LogCredit",
    "LogRequest",
    "Message",
    "NodeConnection",
    "OpenStream",
    "ProtocolError",
    "ServerUntrusted",
    "StartInstance",
    "StatusBatch",
    "StopInstance",
    "TLSRejected",
    "TransportError",
    "UploadData",
    "UploadRead",
    "VersionMismatch",
    "WireConnection",
    "answer_hello",
    "client_hello",
    "connect_to_conductor",
    "decode",
    "encode",
    "job_spec_from_dict",
    "message",
    "negotiate_version",
    "peer_node_id",
    "receive_hello",
    "serve_nodes",
]

if TYPE_CHECKING:
    from .client import connect_to_conductor


def __getattr__(name: str) -> object:
    # The node's side of the link, which a Conductor (it only serves links) never
    # needs: loaded when first asked for.
    if name == "connect_to_conductor":
        from .client import connect_to_conductor

        return connect_to_conductor
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
