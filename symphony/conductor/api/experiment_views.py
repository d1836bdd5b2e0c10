"""JSON shape of an experiment: its processes by group, where they run, and its state.

An experiment's state is derived from its processes' deployments, as a deployment's
is from its instances: ``failed`` if a process gave up, ``stopped`` when it is meant
to be, ``running`` when every process runs, ``pending`` while none is placed (gang
placement: all or nothing), and ``degraded`` otherwise, with the reason naming the
processes that do not run (and how those that ended for good ended).
"""

from __future__ import annotations

from typing import Any

from symphony.wire.states import DeploymentState as D
from symphony.wire.states import ExperimentState as E

from ..store import DeploymentRecord, ExperimentRecord, InstanceRecord
from .views import deployment_json

#: How many process names a reason lists before "and N more".
REASON_NAMES = 5


def process_json(record: DeploymentRecord, instances: list[InstanceRecord]) -> dict[str, Any]:
    """One process: its deployment's summary and its current instance's whereabouts."""
    view = deployment_json(record, instances)
    role = record.spec.experiment
    assert role is not None
    current = view["instances"][0] if view["instances"] else None
    record_of = {i.id: i for i in instances}
    network = record_of[current["id"]].network if current else {}
    return {
        "name": role.process,
        "group": role.group,
        "deployment": record.name,
        "deployment_id": record.id,
        "state": view["state"],
        "instance_state": current["state"] if current else None,
        "node_id": current["node_id"] if current else None,
        "pid": current["pid"] if current else None,
        "restarts": view["restarts"],
        "reason": view["failure"]
        or view["pending_reason"]
        or (current or {}).get("reason")
        or (_how_it_ended(current) if view["state"] == D.EXITED else None),
        "binds": dict(role.binds),
        "exposes": dict(role.exposes),
        "connects": list(role.connects),
        "ports": dict(network.get("ports") or {}),
    }


def _how_it_ended(current: dict[str, Any] | None) -> str | None:
    """``exited with code 7`` or ``killed by SIGKILL``: the last run of a process that its
    restart policy starts no more."""
    if current is None:
        return None
    if current.get("signal"):
        return f"killed by {current['signal']}"
    return f"exited with code {current.get('exit_code')}"


def experiment_state(desired: str, processes: list[dict[str, Any]]) -> tuple[E, str | None]:
    """The experiment's state and, unless it runs, why."""
    if desired == "stopped":
        still = [p["name"] for p in processes if p["state"] not in (D.STOPPED, D.EXITED)]
        return E.STOPPED, (f"stopping {_names(still)}" if still else None)
    failed = [p for p in processes if p["state"] == D.FAILED]
    if failed:
        return E.FAILED, f"process {failed[0]['name']} failed: {failed[0]['reason']}"
    if all(p["state"] == D.RUNNING for p in processes):
        return E.RUNNING, None
    if all(p["node_id"] is None for p in processes):
        reasons = [p["reason"] for p in processes if p["reason"]]
        return E.PENDING, reasons[0] if reasons else "waiting for nodes"
    down = [p["name"] for p in processes if p["state"] not in (D.RUNNING, D.EXITED)]
    # Ended for good: they run again only after a change (a restart, a new launch).
    ended = [f"{p['name']} ({p['reason']})" for p in processes if p["state"] == D.EXITED]
    parts = [f"not running: {_names(down)}"] if down else []
    parts += [f"ended, not to be restarted: {_names(ended)}"] if ended else []
    return E.DEGRADED, "; ".join(parts)


def _names(names: list[str]) -> str:
    shown = ", ".join(names[:REASON_NAMES])
    more = len(names) - REASON_NAMES
    return f"{shown} and {more} more" if more > 0 else shown


def experiment_json(
    record: ExperimentRecord, processes: list[tuple[DeploymentRecord, list[InstanceRecord]]]
) -> dict[str, Any]:
    """An experiment with its processes (in the spec's order) and its summary state."""
    views = [process_json(d, i) for d, i in processes]
    state, reason = experiment_state(record.spec.desired_state, views)
    return {
        "name": record.name,
        "desired_state": record.spec.desired_state,
        "network": record.spec.network,
        "state": state,
        "reason": reason,
        "created_at": record.created_at,
        "updated_at": record.updated_at,
        "groups": [g.name for g in record.spec.process_groups],
        "processes": views,
        "spec": record.spec.to_dict(),
    }
