"""A job spec is made once per job: deployments that run the same job share it.

Making a :class:`~symphony.wire.JobSpec` checks the deployment spec again by the node's
rules, which cost about as much as a create's store transaction; deployments created
from one template (all but the name the same) now share the one made for the first.
"""

from __future__ import annotations

from typing import Any

import pytest

from symphony.conductor.deployments import instances
from symphony.conductor.deployments.instances import JOB_SPECS_KEPT, job_spec
from symphony.spec import parse_spec
from symphony.wire import ProtocolError


def _spec(name: str, **extra: Any) -> Any:
    data: dict[str, Any] = {"name": name, "config": {"command": ["python3", "main.py"]}}
    data.update(extra)
    return parse_spec(data)


def test_job_spec_shared_by_deployments_of_one_job_equal_to_one_made_alone() -> None:
    a = job_spec(_spec("a", replicas=2, labels={"x": "1"}))
    b = job_spec(_spec("b", node_group="other"))
    assert b is a  # made once: what the name, replicas, group or labels change is no job
    instances._job_specs.clear()
    assert job_spec(_spec("c")) == a and job_spec(_spec("c")) is not a


@pytest.mark.parametrize(
    "change",
    [
        {"config": {"command": ["python3", "other.py"]}},
        {"config": {"command": ["python3", "main.py"], "env": {"A": "1"}}},
        {"config": {"command": ["python3", "main.py"], "env": {"S": {"secret": "db"}}}},
        {"restart_policy": {"type": "never"}},
        {"stop_signal": "SIGINT"},
        {"stop_timeout_seconds": 3},
        {"log_backups": 2},
        {"kind": "docker", "config": {"command": ["x"], "image": "alpine:3"}},
    ],
)
def test_job_spec_of_another_job_is_its_own(change: dict[str, Any]) -> None:
    base = job_spec(_spec("a"))
    other = job_spec(_spec("b", **change))
    assert other != base
    assert other == instances._make_job_spec(_spec("b", **change))
    if "env" in change.get("config", {}) and "S" in change["config"]["env"]:
        assert other.config.secret_env == {"S": "db"} and "S" not in other.config.env


def test_job_specs_kept_are_bounded_and_a_refused_one_not_kept() -> None:
    for i in range(JOB_SPECS_KEPT + 10):
        job_spec(_spec("a", config={"command": ["true", str(i)]}))
    assert len(instances._job_specs) == JOB_SPECS_KEPT
    kept = dict(instances._job_specs)
    # A spec a node's rules refuse (made without the spec's own checks) raises every
    # time it is asked for, and leaves the kept ones as they were.
    bad = _spec("bad").model_copy(update={"stop_signal": "SIGNOPE"})
    for _ in range(2):
        with pytest.raises(ProtocolError):
            job_spec(bad)
    assert instances._job_specs == kept


def test_job_spec_of_a_spec_json_cannot_hold_is_made_not_kept() -> None:
    # A spec an older version stored (a lone surrogate in its command) has no JSON key:
    # its job spec is made as before (sending it fails later, for that instance only)
    # instead of the supervisor's start failing on the key.
    from symphony.spec import parse_stored_spec

    stored = parse_stored_spec({"name": "old", "config": {"command": ["echo", "\ud800"]}})
    kept = dict(instances._job_specs)
    made = job_spec(stored)
    assert list(made.config.command) == ["echo", "\ud800"]
    assert instances._job_specs == kept
