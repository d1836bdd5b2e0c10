"""The deployment spec: one validated model shared by the API, the CLI and YAML files.

    >>> from symphony.spec import parse_spec
    >>> spec = parse_spec({"node_group": "gpu-1", "capacity_requests": {"Analytic1": 1},
    ...     "config": {"command": ["python3", "main.py"]}})
    >>> spec.replicas, spec.placement.strategy, spec.restart_policy.type
    (1, 'spread', 'on-failure')
    >>> spec.patched({"replicas": 3}).replicas
    3

Errors are in our own words, with a suggestion for a typo (``translate_errors`` does
this for every pydantic model: specs, request bodies)::

    replicas: must be at least 0 (got -1); replica: unknown field 'replica'; did you
    mean 'replicas'?

Errors (one tree)::

    ValueError
    └── SpecError      .errors = [{"path": "restart_policy.type", "message": "..."}, ...]
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from symphony import lazy as _lazy

from ._errors import SpecError
from ._stems import variable_stem
from ._words import did_you_mean, translate_errors

if TYPE_CHECKING:
    from ._experiment import (
        ExperimentSpec,
        ProcessGroupSpec,
        ProcessSpec,
        parse_experiment,
        process_deployments,
    )
    from ._labels import check_label_key, check_label_value
    from ._model import DeploymentSpec, ExecConfig, ExperimentRole
    from ._parse import KEPT_FIELDS, apply_patch, merge_patch, parse_spec, parse_stored_spec
    from ._policies import (
        HealthCheck,
        PlacementPolicy,
        Reschedule,
        RestartPolicy,
        UpdatePolicy,
    )
    from ._schedule import RestartSchedule, Schedule, time_zone
    from ._secret_name import check_secret_name
    from ._secrets import MAX_SECRET_BYTES, SecretName, SecretRef, secret_refs
    from ._sources import GitSource, is_commit

# pydantic and the model classes cost ~80 ms to import; a CLI that imports this package
# but never validates a spec (``symphony --help``) should not pay it. PEP 562 lazy names.
_LAZY = {
    "DeploymentSpec": "_model",
    "ExecConfig": "_model",
    "GitSource": "_sources",
    "is_commit": "_sources",
    "ExperimentRole": "_model",
    "ExperimentSpec": "_experiment",
    "ProcessGroupSpec": "_experiment",
    "ProcessSpec": "_experiment",
    "parse_experiment": "_experiment",
    "process_deployments": "_experiment",
    "HealthCheck": "_policies",
    "PlacementPolicy": "_policies",
    "Reschedule": "_policies",
    "RestartPolicy": "_policies",
    "MAX_SECRET_BYTES": "_secrets",
    "SecretName": "_secrets",
    "SecretRef": "_secrets",
    "secret_refs": "_secrets",
    "UpdatePolicy": "_policies",
    "RestartSchedule": "_schedule",
    "Schedule": "_schedule",
    "check_label_key": "_labels",
    "check_secret_name": "_secret_name",
    "check_label_value": "_labels",
    "KEPT_FIELDS": "_parse",
    "apply_patch": "_parse",
    "merge_patch": "_parse",
    "parse_spec": "_parse",
    "parse_stored_spec": "_parse",
    "time_zone": "_schedule",
}


def __getattr__(name: str) -> Any:
    return _lazy.attribute(__name__, _LAZY, globals(), name)


__all__ = [
    "KEPT_FIELDS",
    "MAX_SECRET_BYTES",
    "DeploymentSpec",
    "ExecConfig",
    "ExperimentRole",
    "ExperimentSpec",
    "GitSource",
    "HealthCheck",
    "PlacementPolicy",
    "ProcessGroupSpec",
    "ProcessSpec",
    "Reschedule",
    "RestartPolicy",
    "RestartSchedule",
    "Schedule",
    "SecretName",
    "SecretRef",
    "SpecError",
    "UpdatePolicy",
    "apply_patch",
    "check_label_key",
    "check_label_value",
    "check_secret_name",
    "did_you_mean",
    "is_commit",
    "merge_patch",
    "parse_experiment",
    "parse_spec",
    "parse_stored_spec",
    "process_deployments",
    "secret_refs",
    "time_zone",
    "translate_errors",
    "variable_stem",
]
