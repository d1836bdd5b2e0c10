"""JSON shapes of deployments, instances and events (what the API returns)."""

from __future__ import annotations

from typing import Any

from symphony.wire.states import DeploymentState as D
from symphony.wire.states import InstanceState as S
from symphony.wire.states import is_live

from ..deployments.roll import roll_view
from ..store import DeploymentRecord, EventRecord, InstanceRecord, VersionRecord


def instance_json(inst: InstanceRecord) -> dict[str, Any]:
    """One instance: where it runs, its state, and how its last run ended."""
    return {
        "id": inst.id,
        "replica": inst.replica,
        "node_id": inst.node_id,
        "state": inst.state,
        "pid": inst.pid,
        "restarts": inst.restarts,
        "exit_code": inst.exit_code,
        "signal": inst.signal,
        "health": inst.health,
        "reason": inst.reason,
        "generation": inst.generation,
        "started_at": inst.started_at,
        "finished_at": inst.finished_at,
        "updated_at": inst.updated_at,
        "restart_at": inst.restart_at,
        "devices": list(inst.devices),
        # Current figures, not stored: filled in per answer by ``with_usage``.
        "cpu_percent": None,
        "rss_bytes": None,
        "version": inst.version,
    }


def deployment_json(
    record: DeploymentRecord, instances: list[InstanceRecord], *, with_spec: bool = True
) -> dict[str, Any]:
    """A deployment with its instances (current ones first) and a status summary;
    without ``with_spec``, its summary (the same without ``spec``, which is most of the
    work of making it)."""
    spec = record.spec
    current = sorted(instances, key=lambda i: (not is_live(i.state), i.replica, -i.updated_at))
    running = sum(1 for i in instances if i.state == S.RUNNING)
    live = [i for i in instances if is_live(i.state)]
    pending = [i for i in live if i.state == S.PENDING]
    if spec.desired_state == "stopped":
        state = D.STOPPING if live else D.STOPPED
    elif record.failure is not None:
        state = D.FAILED  # it gave up: see "failure"; starting it again clears it
    elif running >= spec.replicas:
        state = D.RUNNING
    elif any(_crashing(i) for i in live):
        state = D.CRASHING  # before "pending": a crash loop is what needs a look first
    elif pending:
        state = D.PENDING
    elif any(i.state == S.FAILED for i in instances) and not live:
        state = D.PENDING  # a failed replica waits for its reschedule delay
    elif live and all(i.state == S.STOPPING for i in live):
        state = D.STOPPING  # e.g. being deleted, or replaced before the new ones exist
    else:
        state = D.STARTING if live else (D.EXITED if instances else D.PENDING)
    view = {
        "id": record.id,
        "name": record.name,
        "desired_state": spec.desired_state,
        "state": state,
        "replicas": {"desired": spec.replicas, "running": running},
        "generation": record.generation,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "pending_reason": pending[0].reason if pending else _waiting_for_run(record, instances),
        "failure": record.failure,
        "restarts": sum(i.restarts for i in live),
    }
    if with_spec:
        view["spec"] = spec.to_dict()
    view["instances"] = [instance_json(i) for i in current]
    view["version"] = record.version
    view["rollout"] = roll_view(record, instances)
    return view


def _crashing(inst: InstanceRecord) -> bool:
    """Whether a live instance is in a crash loop: its last run failed (a non-zero exit
    code or a signal) and it waits to run again or is starting again. Its ``exit_code``
    and ``signal`` are kept from that run until the next one ends."""
    failed = inst.signal is not None or inst.exit_code not in (None, 0)
    return failed and (inst.state == S.RESTARTING or (inst.restarts > 0 and inst.state in _AGAIN))


#: The states of an instance on its way to its next run.
_AGAIN = frozenset({S.ASSIGNED, S.STARTING})


def version_json(version: VersionRecord, current: int) -> dict[str, Any]:
    """One kept version of a deployment's template."""
    return {
        "version": version.version,
        "current": version.version == current,
        "status": version.status,
        "reason": version.reason,
        "created_at": version.created_at,
        "used_at": version.used_at,
        "spec": version.spec.to_dict(),
    }


def _waiting_for_run(record: DeploymentRecord, instances: list[InstanceRecord]) -> str | None:
    """Why a scheduled deployment that never ran has no instances."""
    spec = record.spec
    if spec.schedule is None or instances or spec.desired_state != "running":
        return None
    return f"waiting for its first scheduled run ({spec.schedule.cron}, {spec.schedule.timezone})"


def event_json(event: EventRecord) -> dict[str, Any]:
    """One event as the API returns it."""
    return {
        "id": event.id,
        "at": event.at,
        "kind": event.kind,
        "message": event.message,
        "deployment_id": event.deployment_id,
        "instance_id": event.instance_id,
        "data": dict(event.data),
    }


def usage_fields(current: dict[str, dict[str, float]], instance_id: str) -> dict[str, Any]:
    """``cpu_percent`` and ``rss_bytes`` of one instance (``None`` for an instance no
    heartbeat has measured: not live, or its node speaks protocol 2)."""
    sample = current.get(instance_id, {})
    rss = sample.get("rss_bytes")
    return {
        "cpu_percent": sample.get("cpu_percent"),
        "rss_bytes": None if rss is None else int(rss),
    }


def with_usage(view: dict[str, Any], current: dict[str, dict[str, float]]) -> dict[str, Any]:
    """A copy of one deployment view with its instances' figures (views may be shared)."""
    instances = [{**inst, **usage_fields(current, inst["id"])} for inst in view["instances"]]
    return {**view, "instances": instances}
