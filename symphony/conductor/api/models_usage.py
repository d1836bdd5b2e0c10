"""The answers of the usage history routes (see :mod:`.models`): one-minute buckets of
a node's or a deployment's usage, and a deployment's restarts."""

from __future__ import annotations

from .models_base import _Answer

__all__ = [
    "DeploymentUsageHistory",
    "InstanceUsageHistory",
    "NodeUsageHistory",
    "RestartCount",
    "UsageBucket",
]


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
