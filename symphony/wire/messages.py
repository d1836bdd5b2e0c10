"""The typed messages of the node <-> conductor protocol.

Every message is a frozen, keyword-only dataclass registered under a short type
tag ``t``; on the wire it is one msgpack map ``{"t": "<tag>", <field>: <value>, ...}``
(see :mod:`symphony.wire.codec`). The field type hints *are* the schema: the
codec validates every decoded field against them before anyone sees the message.

Who sends what::

    node -> conductor    Hello, Heartbeat (with InstanceUsage), InstanceStatus, StatusBatch,
                         LogChunk, UploadRead, Error
    conductor -> node    HelloAccepted, HelloRejected, StartInstance, StopInstance,
                         LogRequest, LogCancel, LogCredit, UploadData, InstanceSecrets,
                         OpenStream, Error

Adding a message type is three steps: write the dataclass, decorate it with
``@message("tag")``, and (optionally) export it. Optional fields default to
``None`` and are left out of the encoded map, which keeps heartbeats small.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, ClassVar, Literal, TypeVar, dataclass_transform

from .schema import JsonData, Max, MaxLen, Min, MinLen, Pattern
from .states import InstanceState

__all__ = [
    "INSTANCE_STATES",
    "MAX_USAGE_INSTANCES",
    "MESSAGE_TYPES",
    "UPLOAD_CHUNK",
    "Error",
    "Heartbeat",
    "Hello",
    "HelloAccepted",
    "HelloRejected",
    "InstanceReport",
    "InstanceSecrets",
    "InstanceState",
    "InstanceStatus",
    "InstanceUsage",
    "LogCancel",
    "LogChunk",
    "LogCredit",
    "LogRequest",
    "Message",
    "OpenStream",
    "StartInstance",
    "StatusBatch",
    "StopInstance",
    "UploadData",
    "UploadRead",
    "message",
]

# Identifiers: non-empty, bounded (a DNS name fits), so a peer cannot make us keep
# megabyte-long keys in maps and logs.
Id = Annotated[str, MinLen(1), MaxLen(253)]
NonNegInt = Annotated[int, Min(0)]
Text = Annotated[str, MaxLen(4096)]
# The same rules as node ids, groups and capacity classes in the config and the spec
# (repeated: the wire imports neither). Full matches: no trailing newline slips through.
NodeId = Annotated[
    str,
    Pattern(
        r"(?!node-client\Z)(?!.*\.\.)[A-Za-z0-9][A-Za-z0-9._-]{0,62}",
        "1-63 letters, digits, '.', '_' or '-', starting with a letter or digit, without "
        "'..', and not the reserved 'node-client'",
    ),
]
GroupName = Annotated[
    str,
    Pattern(
        r"[A-Za-z0-9][A-Za-z0-9_.-]{0,62}",
        "a node group: 1-63 letters, digits, '_', '.', '-', starting with a letter or digit",
    ),
]
ClassName = Annotated[
    str,
    Pattern(
        r"[A-Za-z][A-Za-z0-9_.-]{0,62}",
        "a capacity class: 1-63 letters, digits, '_', '.', '-', starting with a letter",
    ),
]
#: A GPU device id as a node reports it (``node.gpus``' rule, or an NVML UUID).
DeviceId = Annotated[
    str,
    Pattern(
        r"[A-Za-z0-9][A-Za-z0-9_.:/-]{0,127}",
        "a device id: 1-128 letters, digits, '_', '.', ':', '/', '-'",
    ),
]
#: The most GPU devices one instance may hold (far more than a machine has).
MAX_DEVICES = 4096

#: The largest capacity a node may declare (as in the config and the spec).
MAX_CAPACITY = 10**12
Capacity = Annotated[int, Min(0), Max(MAX_CAPACITY)]

#: The most named environments a node reports.
MAX_ENVS = 1024

#: Every instance state of the lifecycle in ARCHITECTURE order (see :mod:`.states`).
INSTANCE_STATES: tuple[str, ...] = tuple(state.value for state in InstanceState)


class Message:
    """Base class of every protocol message; ``t`` is the type tag on the wire."""

    __slots__ = ()
    t: ClassVar[str]


#: Tag -> message class, filled by :func:`message`.
MESSAGE_TYPES: dict[str, type[Message]] = {}

M = TypeVar("M", bound=Message)


# dataclass_transform tells type checkers that ``@message(...)`` builds a frozen,
# keyword-only dataclass, so every message constructor call is checked.
@dataclass_transform(frozen_default=True, kw_only_default=True, field_specifiers=(field,))
def message(tag: str) -> Callable[[type[M]], type[M]]:
    """Class decorator: make a frozen keyword-only dataclass and register it under ``tag``."""

    def register(cls: type[M]) -> type[M]:
        if tag in MESSAGE_TYPES:
            raise ValueError(f"message tag {tag!r} is already used by {MESSAGE_TYPES[tag]}")
        cls.t = tag
        cls = dataclass(frozen=True, slots=True, kw_only=True)(cls)
        MESSAGE_TYPES[tag] = cls
        return cls

    return register


# -- session ------------------------------------------------------------------------


@message("instance_status")
class InstanceStatus(Message):
    """The observed state of one instance on a node (``at``: when it was observed).

    Sent alone, in a :class:`StatusBatch`, and inside :class:`Hello` to report
    what the node runs right now (there it is also called :data:`InstanceReport`).
    ``final`` is True when the node will not run the instance again by itself (its
    restart policy gave up, it exited for good, or it was stopped): only then does
    the conductor release the instance's capacity. ``restart_at`` (protocol 3) is when
    an instance ``restarting`` starts its next run (wall clock); a version-2 node leaves
    it out. ``devices`` (protocol 4) are the GPU devices the instance holds on the node
    (``()``: none); ``None``: not said (an older node, or an update that does not
    concern them).
    """

    instance_id: Id
    deployment_id: Id
    state: InstanceState
    pid: NonNegInt | None = None
    restarts: NonNegInt = 0
    exit_code: int | None = None
    signal: NonNegInt | None = None
    reason: Text | None = None
    health: Literal["healthy", "unhealthy", "unknown"] | None = None
    cpu_percent: float | None = None
    rss_bytes: NonNegInt | None = None
    started_at: float | None = None
    finished_at: float | None = None
    at: float | None = None
    final: bool | None = None
    restart_at: float | None = None
    devices: Annotated[tuple[DeviceId, ...], MaxLen(MAX_DEVICES)] | None = None


#: What a node reports in its hello for each instance it runs: the same record.
InstanceReport = InstanceStatus


@message("hello")
class Hello(Message):
    """First message from a node: who it is, what it offers, what it already runs.

    ``protocol_version`` is the newest version the node speaks and
    ``min_protocol_version`` the oldest (``None``: only ``protocol_version``).
    ``resources`` holds static facts (cpu_count, ram_total, disks, gpus).
    ``heartbeat_sec`` is the node's configured heartbeat interval; the conductor
    derives its liveness timeout from it (5 x) unless configured otherwise.
    ``incarnation`` (protocol 2) is a random token the node keeps in its state
    directory: the same agent keeps it across restarts, another agent claiming the
    same node id (another state directory) has another one, and the conductor fences
    it until the previous incarnation's work is accounted for. ``None``: a v1 node.
    ``container_runtimes`` (protocol 4) names the container commands that answered on
    the node (``docker``, ``podman``); jobs of those kinds are placed only there.
    """

    protocol_version: Annotated[int, Min(1)]
    node_id: NodeId
    groups: Annotated[tuple[GroupName, ...], MaxLen(256)] = ()
    capacities_total: Annotated[dict[ClassName, Capacity], MaxLen(256)] = field(
        default_factory=dict
    )
    resources: Annotated[dict[str, Any], JsonData()] = field(default_factory=dict)
    instances: tuple[InstanceStatus, ...] = ()
    min_protocol_version: Annotated[int, Min(1)] | None = None
    agent_version: Text | None = None
    heartbeat_sec: Annotated[float, Min(0.05), Max(86_400)] | None = None
    incarnation: Annotated[str, MinLen(1), MaxLen(128)] | None = None
    #: (protocol 4) The named environments this node can run a job in (``env_name``).
    envs: Annotated[tuple[EnvRef, ...], MaxLen(MAX_ENVS)] | None = None
    container_runtimes: Annotated[tuple[Literal["docker", "podman"], ...], MaxLen(8)] = ()


@message("hello_accepted")
class HelloAccepted(Message):
    """The conductor's answer to a good hello: the version to speak and the timing."""

    protocol_version: Annotated[int, Min(1)]
    heartbeat_sec: float
    node_timeout_sec: float


@message("hello_rejected")
class HelloRejected(Message):
    """The conductor refuses this node (version, identity, ...); it closes right after."""

    reason: Text


@message("instance_usage")
class InstanceUsage(Message):
    """CPU% and RSS of one live instance's process tree, inside a :class:`Heartbeat`
    (protocol 3). An instance between runs (waiting out its backoff) reports zeros."""

    instance_id: Id
    cpu_percent: Annotated[float, Min(0)]
    rss_bytes: NonNegInt


#: The most instances one heartbeat may report usage for (a node runs far fewer).
MAX_USAGE_INSTANCES = 4096


@message("heartbeat")
class Heartbeat(Message):
    """Periodic liveness + usage (cpu_percent, per_core, ram_used, ram_total, disks, gpus).

    ``instances`` (protocol 3) holds every live instance of the node with its CPU% and
    RSS; an instance left out has ended. ``None``: not reported (a version-2 node, or a
    process layer that did not answer in time), which says nothing about any instance.
    """

    seq: NonNegInt
    usage: Annotated[dict[str, Any], JsonData()] = field(default_factory=dict)
    instances: Annotated[tuple[InstanceUsage, ...], MaxLen(MAX_USAGE_INSTANCES)] | None = None
    #: (protocol 4) The node's environments, sent only when they changed since the last
    #: report (``None``: unchanged).
    envs: Annotated[tuple[EnvRef, ...], MaxLen(MAX_ENVS)] | None = None
    #: (protocol 5) ``True``: ``usage`` holds only the keys whose values changed since
    #: this link's previous heartbeat (``{}``: nothing changed), to be merged into the
    #: last full usage the Conductor holds (see :mod:`symphony.wire.usagedelta`).
    #: ``None``: ``usage`` is complete, as from every older node.
    delta: bool | None = None


@message("error")
class Error(Message):
    """A peer reports a problem it could not attribute to a specific request."""

    reason: Text


# -- instances ----------------------------------------------------------------------


@message("start_instance")
class StartInstance(Message):
    """Conductor -> node: run replica ``replica`` of a deployment from ``spec``.

    Since protocol 3 ``spec`` is a typed :class:`~symphony.wire.jobspec.JobSpec`; its
    map is the subset of the old untyped spec map that nodes of versions 1 and 2 read.
    ``gpus`` (protocol 4) is how many of the node's GPU devices the instance gets to
    itself (its ``capacity_requests.gpu``; ``None``: none); the node picks them.
    """

    instance_id: Id
    deployment_id: Id
    deployment_name: Id
    replica: NonNegInt
    spec: JobSpec
    gpus: Annotated[int, Min(1)] | None = None
    #: Protocol 4: the values of ``spec.config.secret_env``, by variable name. The node
    #: keeps them in memory only; never in a repr (a log line).
    secrets: SecretValues | None = field(default=None, repr=False)


@message("instance_secrets")
class InstanceSecrets(Message):
    """Conductor -> node (protocol 4): the secret values of an instance the node runs
    but holds no values for (its agent restarted): by variable name, as in
    :attr:`StartInstance.secrets`. A node that holds them already keeps its own."""

    instance_id: Id
    secrets: SecretValues = field(repr=False)


@message("stop_instance")
class StopInstance(Message):
    """Conductor -> node: stop an instance (signal, grace period, then SIGKILL)."""

    instance_id: Id
    reason: Text = ""


@message("status_batch")
class StatusBatch(Message):
    """Several :class:`InstanceStatus` updates in one frame (cheaper than one each)."""

    updates: tuple[InstanceStatus, ...]


# -- logs ---------------------------------------------------------------------------


@message("log_request")
class LogRequest(Message):
    """Conductor -> node: send the last ``tail`` lines of a stream, then follow if asked."""

    request_id: Id
    instance_id: Id
    stream: Literal["stdout", "stderr"] = "stdout"
    tail: NonNegInt = 100
    follow: bool = False
    #: Flow control (protocol 2): the node may send at most this many bytes of data
    #: beyond what :class:`LogCredit` messages have granted back. ``None``: no window
    #: (a version-1 conductor); the node still bounds what it buffers.
    window: NonNegInt | None = None
    #: Protocol 5: only lines that arrived at or after this time (ns since the epoch, by
    #: the node's clock); lines of unknown time (logs from before 5) are left out.
    since_ns: NonNegInt | None = None
    #: Protocol 5: each line starts with its arrival time (RFC 3339, UTC) and a space.
    timestamps: bool = False


@message("log_chunk")
class LogChunk(Message):
    """Node -> conductor: raw log bytes for a request; ``eof`` ends it (``reason`` says why
    it ended early, e.g. an unknown instance)."""

    request_id: Id
    data: bytes = b""
    eof: bool = False
    reason: Text | None = None


@message("log_cancel")
class LogCancel(Message):
    """Conductor -> node: stop following a log request."""

    request_id: Id


@message("log_credit")
class LogCredit(Message):
    """Conductor -> node (protocol 2): the reader of a windowed log request consumed
    ``bytes`` more; the node may send that much more data for it."""

    request_id: Id
    bytes: NonNegInt


# -- uploads (protocol 4) -----------------------------------------------------------

#: The most bytes of an uploaded archive in one :class:`UploadData` frame.
UPLOAD_CHUNK = 512 * 1024


@message("upload_read")
class UploadRead(Message):
    """Node -> conductor (protocol 4): the next piece of an archive uploaded to the
    Conductor (``config.image: "upload:<sha256>"``), from ``offset``. One read is in
    flight per download: the answer comes before the next read, so an archive never
    holds more than one frame of the link at a time."""

    request_id: Id
    sha256: Annotated[str, Pattern(r"[0-9a-f]{64}", "a sha256 digest: 64 lowercase hex digits")]
    offset: NonNegInt


@message("upload_data")
class UploadData(Message):
    """Conductor -> node (protocol 4): up to :data:`UPLOAD_CHUNK` bytes of an upload at
    the read's offset; ``eof`` when nothing follows; ``reason`` when it failed (no such
    upload)."""

    request_id: Id
    data: Annotated[bytes, MaxLen(UPLOAD_CHUNK)] = b""
    eof: bool = False
    size: NonNegInt | None = None
    reason: Text | None = None


# -- relayed streams (protocol 5) -------------------------------------------------------


@message("open_stream")
class OpenStream(Message):
    """Conductor -> node (protocol 5): connect to ``port`` on this node, which instance
    ``instance_id`` (an experiment's process) binds or exposes, and hand the connection
    to the Conductor as stream ``stream_id`` over a relay connection of its own (see
    :mod:`symphony.wire.relay`). A node refuses a port that none of its experiments'
    processes binds or exposes: it is never an open proxy into its network."""

    stream_id: Id
    instance_id: Id
    port: Annotated[int, Min(1), Max(65_535)]


# At the end: the job spec's messages are built on the base class above, and
# StartInstance's hint names JobSpec (resolved when the codec first compiles it).
from .jobspec import EnvRef, JobSpec, SecretValues  # noqa: E402
