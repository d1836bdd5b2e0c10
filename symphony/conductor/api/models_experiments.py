"""The body and answers of ``/experiments`` (see :mod:`.models`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from symphony.wire.states import DeploymentState, ExperimentState, InstanceState

from .models_base import _Answer, _Request

__all__ = ["Experiment", "ExperimentChange", "ExperimentList", "ExperimentProcess"]


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
