"""What the API takes and returns, as pydantic models: the source of ``/openapi.json``.

Request bodies are validated with these models (through
:func:`symphony.spec.translate_errors`, so a refusal reads like a refused spec); the
response models describe what :mod:`.views`, :func:`.routes_nodes.node_json` and
:func:`.routes_events.event_json` return, and the schemathesis test checks every answer
against them. A field typed with an enum (or a ``Literal``) shows its values in the
document: type a state field with the state enum and ``/openapi.json`` lists the states.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from symphony.spec import check_label_key, check_label_value
from symphony.wire.messages import MAX_CAPACITY
from symphony.wire.states import DeploymentState, ExperimentState, InstanceState

from ..join import MAX_TOKEN_TTL
from .paging import MAX_PAGE, MAX_SELECTORS, ListFilter

__all__ = [
    "DEFAULT_TTL",
    "Deleted",
    "Deployment",
    "DeploymentList",
    "DeploymentUsageHistory",
    "Error",
    "Event",
    "EventPage",
    "EventsQuery",
    "Experiment",
    "ExperimentChange",
    "ExperimentList",
    "ExperimentProcess",
    "Health",
    "Instance",
    "Node",
    "NodeList",
    "NodeUsageHistory",
    "RollbackRequest",
    "Rollout",
    "Run",
    "RunInstance",
    "Runs",
    "States",
    "TokenCreated",
    "TokenDeleted",
    "TokenList",
    "TokenRequest",
    "Version",
    "VersionList",
]

#: A join token's lifetime when the request does not say.
DEFAULT_TTL = 3600.0
#: The most log lines one request may ask for.
MAX_TAIL = 100_000
#: The largest page of events.
MAX_LIMIT = 1000
#: Event ids are SQLite rowids (signed 64-bit).
MAX_ID = 2**63 - 1


class _Answer(BaseModel):
    """A response: every field listed is present (``X | None`` may be null); more may
    be added later without breaking a client."""

    model_config = ConfigDict(extra="allow", defer_build=True)


class _Request(BaseModel):
    """A request body: strict (no coercion), unknown fields refused."""

    model_config = ConfigDict(
        strict=True, extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True
    )


# -- requests -----------------------------------------------------------------------


# What a join token may bind, by the wire's rules for node ids, groups and capacity
# classes (symphony.wire.messages), so that a token never binds what a node cannot send.
NODE_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$"
GROUP_PATTERN = "^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$"
CLASS_PATTERN = "^[A-Za-z][A-Za-z0-9_.-]{0,62}$"
#: The most groups or capacity classes one token binds.
MAX_BOUND = 256


def _check_node_id(value: str) -> str:
    # The parts of the wire's rule a JSON-schema pattern cannot say portably (pydantic's
    # regex engine has no lookahead).
    if ".." in value:
        raise ValueError("a node id has no '..'")
    if value == "node-client":
        raise ValueError("'node-client' is reserved (the shared node certificate's name)")
    return value


BoundNodeId = Annotated[str, Field(pattern=NODE_ID_PATTERN), AfterValidator(_check_node_id)]
BoundGroup = Annotated[str, Field(pattern=GROUP_PATTERN)]
BoundClass = Annotated[str, Field(pattern=CLASS_PATTERN)]
BoundAmount = Annotated[int, Field(ge=0, le=MAX_CAPACITY)]


class TokenRequest(_Request):
    """``POST /tokens``: how long the token is valid, whether several nodes may use it,
    and what a node joining with it may claim (an empty body takes the defaults and
    binds nothing; see :mod:`symphony.conductor.binding`)."""

    ttl_seconds: Annotated[float, Field(gt=0, le=MAX_TOKEN_TTL)] = DEFAULT_TTL
    reusable: bool = False
    node_id: Annotated[
        BoundNodeId | None, Field(description="The only node id a node may join as")
    ] = None
    groups: Annotated[
        list[BoundGroup] | None,
        Field(max_length=MAX_BOUND, description="The groups a node may offer (a subset)"),
    ] = None
    capacities: Annotated[
        dict[BoundClass, BoundAmount] | None,
        Field(max_length=MAX_BOUND, description="The most of each class a node may offer"),
    ] = None


class _Query(BaseModel):
    """Query parameters: text read leniently (``tail=5``, ``follow=yes``), unknown ones
    ignored (a cache-busting ``?_=123`` is harmless)."""

    model_config = ConfigDict(extra="ignore", frozen=True, allow_inf_nan=False, defer_build=True)


class EventsQuery(_Query):
    """``GET /deployments/{id_or_name}/events``."""

    after: Annotated[
        int,
        Field(
            ge=0,
            le=MAX_ID,
            description="Only events with a larger id (the previous page's next_after)",
        ),
    ] = 0
    limit: Annotated[int, Field(ge=1, le=MAX_LIMIT, description="Page size")] = 100


def _label_selector(text: str) -> str:
    key, sep, value = text.partition("=")
    check_label_key(key)
    if sep:
        check_label_value(value)
    return text


class DeploymentsQuery(_Query):
    """``GET /deployments``: without any of these, every deployment (as before paging)."""

    limit: Annotated[
        int | None, Field(ge=1, le=MAX_PAGE, description="Page size (default: no paging)")
    ] = None
    cursor: Annotated[
        str | None,
        Field(max_length=512, description="Where to continue: the previous page's next_cursor"),
    ] = None
    state: Annotated[DeploymentState | None, Field(description="Only in this state")] = None
    node_group: Annotated[
        str | None, Field(min_length=1, max_length=63, description="Only in this node group")
    ] = None
    name: Annotated[
        str | None,
        Field(
            min_length=1,
            max_length=63,
            pattern=r"^[a-z0-9-]+$",
            description="Only those whose name begins with this",
        ),
    ] = None
    label: Annotated[
        list[Annotated[str, AfterValidator(_label_selector)]],
        Field(
            max_length=MAX_SELECTORS,
            description="KEY=VALUE, or KEY for any value (repeatable; all must match)",
        ),
    ] = []
    view: Annotated[
        Literal["full", "summary", "rows"],
        Field(
            description="summary: each deployment without its spec (a smaller answer); "
            "rows: the summaries as arrays of values, in the order of the answer's "
            "columns and instance_columns (the smallest answer)"
        ),
    ] = "full"

    def chosen(self) -> ListFilter:
        """The filter these parameters describe."""
        labels = []
        for text in self.label:
            key, sep, value = text.partition("=")
            labels.append((key, value if sep else None))
        return ListFilter(
            state=self.state,
            node_group=self.node_group,
            name_prefix=self.name,
            labels=tuple(labels),
        )

    def pages(self) -> bool:
        """Whether this asks for more than the plain list of everything."""
        return self.limit is not None or self.cursor is not None or self.chosen() != ListFilter()


# -- answers ------------------------------------------------------------------------


class Error(_Answer):
    """Every error: ``{"error": <a few words>, "detail": <why>}``."""

    error: str = Field(description="What went wrong, in a few words")
    detail: Any = Field(description="Why, or the list of {path, message} of an invalid spec")


class Health(_Answer):
    status: Literal["ok"]
    version: str
    uptime_seconds: float


class Instance(_Answer):
    id: str
    replica: int
    node_id: str | None
    state: InstanceState
    pid: int | None
    restarts: int
    exit_code: int | None
    signal: str | None
    health: str | None
    reason: str | None
    generation: int
    started_at: float | None
    finished_at: float | None
    updated_at: float
    restart_at: float | None = Field(
        description="While restarting: when the next run starts (Unix seconds)"
    )
    cpu_percent: float | None  # current figures (see .instance_usage); null until measured
    rss_bytes: int | None
    version: int = Field(description="The version of the deployment's template it runs")
    devices: list[str] = Field(
        description="The GPU devices its node gave it (CUDA_VISIBLE_DEVICES); kept once it ended"
    )


class InstanceStateLists(_Answer):
    """Every instance state, and which are live (not ended), placed (hold capacity on a
    node) and final; :mod:`symphony.wire.states` decides."""

    states: list[InstanceState]
    live: list[InstanceState]
    placed: list[InstanceState]
    final: list[InstanceState]


class DeploymentStateLists(_Answer):
    states: list[DeploymentState]


class States(_Answer):
    """``GET /states``: what the web UI reads instead of keeping copies."""

    instance: InstanceStateLists
    deployment: DeploymentStateLists


class Replicas(_Answer):
    desired: int
    running: int


class DeploymentSummary(_Answer):
    """A deployment without its spec: what ``GET /deployments?view=summary`` lists."""

    id: str
    name: str
    desired_state: Literal["running", "stopped"]
    state: DeploymentState
    replicas: Replicas
    generation: int
    created_at: float
    updated_at: float
    pending_reason: str | None
    failure: str | None
    restarts: int
    instances: list[Instance]
    version: int = Field(description="The version of the template it runs or rolls to")
    rollout: Rollout | None = Field(description="The rolling update under way (null: none)")


class Deployment(DeploymentSummary):
    """A deployment, its spec and its instances."""

    spec: dict[str, Any]


class Rollout(_Answer):
    """A rolling update under way: to ``version``, with ``old`` instances of other
    versions and ``new`` ones (``new_healthy`` of them running and passing their check)."""

    state: Literal["rolling", "canary", "promoted", "reverting", "paused"]
    reason: str | None
    version: int
    old: int
    new: int
    new_healthy: int


class Version(_Answer):
    """One kept version: its template (in ``spec``) and how its roll went."""

    version: int
    current: bool
    status: Literal["rolling", "canary", "good", "failed"]
    reason: str | None
    created_at: float
    used_at: float = Field(description="When it last became the current version")
    spec: dict[str, Any]


class VersionList(_Answer):
    versions: list[Version] = Field(description="The most recently current first")


class RollbackRequest(_Request):
    version: Annotated[int, Field(ge=1)] | None = Field(
        default=None, description="The version to go back to; default: the one current before"
    )


class DeploymentList(_Answer):
    columns: list[str] | None = Field(
        default=None,
        description="With view=rows: what each value of a deployment's row is; the last, "
        "instances, holds its instance rows",
    )
    instance_columns: list[str] | None = Field(
        default=None, description="With view=rows: what each value of an instance's row is"
    )
    deployments: list[Deployment] | list[DeploymentSummary] | list[list[Any]] = Field(
        description="Each deployment; without its spec with view=summary; an array of "
        "values with view=rows"
    )
    next_cursor: str | None = Field(
        default=None,
        description="Present when paging or filtering: where the next page starts (null: "
        "this was the last)",
    )


class Deleted(_Answer):
    deleted: str
    name: str


class GpuDevice(_Answer):
    """One GPU device of a node; ``instance_id`` holds it (``null``: free)."""

    id: str = Field(description="What a job's CUDA_VISIBLE_DEVICES names it by")
    index: int | None
    uuid: str | None
    name: str | None
    instance_id: str | None
    deployment_id: str | None


class Node(_Answer):
    node_id: str
    state: Literal["ready", "disconnected", "lost"]
    groups: list[str]
    capacities_total: dict[str, int]
    capacities_used: dict[str, int]
    resources: dict[str, Any]
    usage: dict[str, Any]
    last_heartbeat: float | None
    connected_at: float | None
    remote: str | None
    shared_certificate: bool
    heartbeat_sec: float
    draining: bool
    envs: list[str]  # its named environments (config.env_name), as it last reported
    container_runtimes: list[str] = Field(default_factory=list)
    gpu_devices: list[GpuDevice] = Field(
        description="Each GPU device the node hands out, with the instance holding it"
    )


class NodeList(_Answer):
    nodes: list[Node]


class UsageBucket(_Answer):
    """One minute: the mean of each metric's samples, and as ``<name>_max`` the largest
    (more metrics may appear: every other field is a number)."""

    start: float
    samples: int


class NodeUsageHistory(_Answer):
    node_id: str
    now: float
    bucket_seconds: int
    current_bucket: float
    buckets: list[UsageBucket]


class InstanceUsageHistory(_Answer):
    instance_id: str
    replica: int
    node_id: str | None
    state: str
    cpu_percent: float | None
    rss_bytes: int | None
    sampled_at: float | None
    buckets: list[UsageBucket]


class RestartCount(_Answer):
    start: float
    count: int


class DeploymentUsageHistory(_Answer):
    deployment_id: str
    name: str
    now: float
    bucket_seconds: int
    current_bucket: float
    instances: list[InstanceUsageHistory]
    restarts: list[RestartCount]


class Event(_Answer):
    id: int
    at: float
    kind: str
    message: str
    deployment_id: str | None
    instance_id: str | None
    data: dict[str, Any]


class EventPage(_Answer):
    events: list[Event]
    next_after: int = Field(description="Pass as ?after= for the next page")


class RunInstance(_Answer):
    """One replica of a run: the instance that ran last for it, and how it ended."""

    replica: int
    instance_id: str | None
    state: str | None
    exit_code: int | None


class Run(_Answer):
    """One run of a scheduled deployment (times are Unix seconds)."""

    number: int
    state: Literal["running", "succeeded", "failed", "stopped", "replaced"]
    scheduled_at: float = Field(description="The cron time the run is for")
    started_at: float
    finished_at: float | None
    catch_up: bool = Field(description="It made up for times missed (the Conductor was down)")
    instances: list[RunInstance]


class Runs(_Answer):
    """A deployment's schedules and its runs, newest first."""

    desired_state: Literal["running", "stopped"] = Field(
        description="Stopped, it lets its times pass: the next times are then null"
    )
    schedule: dict[str, Any] | None
    restart_schedule: dict[str, Any] | None
    last_fire_at: float | None = Field(description="The cron time the schedule last fired")
    next_run_at: float | None
    last_restart_at: float | None
    next_restart_at: float | None
    runs: list[Run]


class TokenCreated(_Answer):
    """The token (shown this once) and how a node uses it."""

    token: str
    id: str
    expires_at: float | None = None
    single_use: bool = True
    node_id: str | None = Field(default=None, description="Bound node id (null: unbound)")
    groups: list[str] | None = Field(default=None, description="Bound groups (null: unbound)")
    capacities: dict[str, int] | None = Field(
        default=None, description="Bound capacities (null: unbound)"
    )
    ca_hash: str = ""
    join_addr: str | None = None
    join_command: str = ""


class TokenInfo(_Answer):
    id: str
    created_at: float
    expires_at: float | None
    single_use: bool
    used_at: float | None
    usable: bool
    node_id: str | None = None
    groups: list[str] | None = None
    capacities: dict[str, int] | None = None


class TokenList(_Answer):
    tokens: list[TokenInfo]


class TokenDeleted(_Answer):
    deleted: str


# -- experiments ------------------------------------------------------------------------


class ExperimentChange(_Request):
    """Start or stop every process of an experiment."""

    desired_state: Literal["running", "stopped"]


class ExperimentProcess(_Answer):
    """One process of an experiment: its deployment, where it runs and its state."""

    name: str
    group: str | None = Field(description="Its process group (all on one node), or null")
    deployment: str = Field(description="Its deployment's name, <experiment>.<process>")
    deployment_id: str
    state: DeploymentState
    instance_state: InstanceState | None
    node_id: str | None
    pid: int | None
    restarts: int
    reason: str | None
    binds: dict[str, int | None]
    exposes: dict[str, int | None]
    connects: list[str]
    ports: dict[str, int] = Field(description="The ports its bound and exposed names got")


class Experiment(_Answer):
    """An experiment: processes that find each other by name, launched together."""

    name: str
    desired_state: Literal["running", "stopped"]
    network: Literal["auto", "direct", "relay"]
    state: ExperimentState
    reason: str | None = Field(description="Why it is not running (null when it is)")
    created_at: float
    updated_at: float
    groups: list[str]
    processes: list[ExperimentProcess]
    spec: dict[str, Any]


class ExperimentList(_Answer):
    experiments: list[Experiment]


class Upload(_Answer):
    """An uploaded archive: name it in a spec as ``"image": image, "sha256": sha256``."""

    sha256: str
    size: int
    image: str
