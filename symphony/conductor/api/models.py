"""What the API takes and returns, as pydantic models: the source of ``/openapi.json``.


Request bodies are validated with these models (through
:func:`symphony.spec.translate_errors`, so a refusal reads like a refused spec); the
response models describe what :mod:`.views`, :func:`.routes_nodes.node_json` and
:func:`.routes_events.event_json` return, and the schemathesis test checks every answer
against them. A field typed with an enum (or a ``Literal``) shows its values in the
document: type a state field with the state enum and ``/openapi.json`` lists the states.

This module holds the deployments', nodes', events' and runs' answers; the models of
other routes are beside it, one family each (``models_tokens.py``, ``models_queries.py``,
``models_usage.py``, ``models_experiments.py``, ``models_secrets.py``, ...), on the bases
of ``models_base.py``, and the names listed here are importable from here.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from symphony.wire.states import DeploymentState, InstanceState

from .models_base import _Answer
from .models_experiments import Experiment, ExperimentChange, ExperimentList, ExperimentProcess
from .models_queries import DeploymentsQuery, EventsQuery
from .models_tokens import (
    DEFAULT_TTL,
    TokenCreated,
    TokenDeleted,
    TokenInfo,
    TokenList,
    TokenRequest,
)
from .models_usage import (
    DeploymentUsageHistory,
    InstanceUsageHistory,
    NodeUsageHistory,
    RestartCount,
    UsageBucket,
)
from .models_versions import RollbackRequest, Version, VersionList

__all__ = [
    "DEFAULT_TTL",
    "Deleted",
    "Deployment",
    "DeploymentList",
    "DeploymentUsageHistory",
    "DeploymentsQuery",
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
    "InstanceUsageHistory",
    "Node",
    "NodeList",
    "NodeUsageHistory",
    "RestartCount",
    "RollbackRequest",
    "Rollout",
    "Run",
    "RunInstance",
    "Runs",
    "States",
    "TokenCreated",
    "TokenDeleted",
    "TokenInfo",
    "TokenList",
    "TokenRequest",
    "UsageBucket",
    "Version",
    "VersionList",
]


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
    protocol_version: int = Field(
        description="The protocol version spoken with the node: 4 or newer runs jobs with "
        "sources (config.image, git, env_name) and secrets, 5 or newer a relay experiment"
    )
    envs: list[str]  # its named environments (config.env_name), as it last reported
    container_runtimes: list[str] = Field(default_factory=list)
    gpu_devices: list[GpuDevice] = Field(
        description="Each GPU device the node hands out, with the instance holding it"
    )


class NodeList(_Answer):
    nodes: list[Node]


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


class Upload(_Answer):
    """An uploaded archive: name it in a spec as ``"image": image, "sha256": sha256``."""

    sha256: str
    size: int
    image: str
