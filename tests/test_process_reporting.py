"""How a node's report maps onto the Conductor's instance record (``apply_update``)."""

from __future__ import annotations

from symphony.conductor.deployments.instances import apply_update
from symphony.conductor.store import InstanceRecord
from symphony.wire import InstanceStatus


def _running(**fields: object) -> InstanceRecord:
    base: dict = {"id": "web-0-abc", "deployment_id": "d", "replica": 0, "node_id": "n1"}
    return InstanceRecord(**{**base, **fields})  # type: ignore[arg-type]


def _status(**fields: object) -> InstanceStatus:
    base: dict = {"instance_id": "web-0-abc", "deployment_id": "d"}
    return InstanceStatus(**{**base, **fields})  # type: ignore[arg-type]


def test_report_started_at_is_the_process_start_not_the_report_time() -> None:
    record = apply_update(
        _running(state="assigned"), _status(state="running", pid=7, started_at=100.0, at=500.0)
    )
    assert record.started_at == 100.0
    # A later report of the same process (an agent restart's hello) keeps it...
    again = apply_update(record, _status(state="running", pid=7, started_at=100.0, at=900.0))
    assert again.started_at == 100.0
    # ...and so does one from a version-1 node, which sends no start time.
    v1 = apply_update(record, _status(state="running", pid=7, at=900.0))
    assert v1.started_at == 100.0
    # A new process (a restart) starts a new age.
    restarted = apply_update(record, _status(state="running", pid=8, at=950.0))
    assert restarted.started_at == 950.0


def test_report_stopped_records_its_exit() -> None:
    record = _running(state="stopping", pid=7, started_at=100.0)
    stopped = apply_update(
        record, _status(state="stopped", signal=9, final=True, finished_at=120.0, at=121.0)
    )
    assert (stopped.state, stopped.signal, stopped.exit_code) == ("stopped", "SIGKILL", None)
    assert stopped.finished_at == 120.0 and stopped.pid is None
