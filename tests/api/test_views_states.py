"""A deployment's summary state, as the API derives it from its instances."""

from __future__ import annotations

from symphony.conductor.api.views import deployment_json
from symphony.conductor.store import DeploymentRecord, InstanceRecord
from symphony.spec import parse_spec
from symphony.wire.states import InstanceState as S

SPEC = {
    "node_group": "g",
    "capacity_requests": {"A": 1},
    "config": {"command": ["false"]},
    "restart_policy": {"type": "on-failure", "backoff_seconds": 10},
}


def _state(*instances: InstanceRecord, replicas: int = 1) -> str:
    record = DeploymentRecord(
        id="d_1",
        name="web",
        spec=parse_spec({**SPEC, "replicas": replicas}),
        generation=1,
        created_at=0.0,
        updated_at=0.0,
    )
    return str(deployment_json(record, list(instances))["state"])


def _inst(state: S, *, replica: int = 0, **fields: object) -> InstanceRecord:
    fields.setdefault("node_id", "n1")
    return InstanceRecord(
        id=f"web-{replica}-{state}",
        deployment_id="d_1",
        replica=replica,
        state=state,
        **fields,  # type: ignore[arg-type]
    )


def test_views_a_replica_waiting_out_its_backoff_after_a_crash_is_crashing() -> None:
    waiting = _inst(S.RESTARTING, restarts=4, exit_code=3, restart_at=100.0)
    assert _state(waiting) == "crashing"
    # Killed by a signal is a crash too, and so is the run that starts after one.
    assert _state(_inst(S.RESTARTING, restarts=1, signal="SIGKILL")) == "crashing"
    assert _state(_inst(S.STARTING, restarts=4, exit_code=3)) == "crashing"
    # Among other replicas, running or not yet placed, the crash loop is what shows.
    running = _inst(S.RUNNING, replica=1)
    pending = _inst(S.PENDING, replica=2, node_id=None)
    assert _state(waiting, running, pending, replicas=3) == "crashing"


def test_views_a_restart_after_a_clean_exit_or_a_first_start_is_starting() -> None:
    assert _state(_inst(S.RESTARTING, restarts=2, exit_code=0)) == "starting"
    assert _state(_inst(S.STARTING)) == "starting"
    # Once every replica runs again, the crashes before are in ``restarts``, not the state.
    assert _state(_inst(S.RUNNING, restarts=4, exit_code=3)) == "running"
