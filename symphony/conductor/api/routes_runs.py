"""``GET /deployments/{id}/runs``: a scheduled deployment's runs and its next times.

Runs are listed newest first, as many as the schedule's ``history`` keeps (plus any
still going), each with its replicas' last instances and exit codes. A run still going
shows its instances' current states. ``next_run_at`` / ``next_restart_at`` are the
schedules' next cron times after their last fire (``None`` while the deployment is
stopped: its times pass).
"""

from __future__ import annotations

import time
from typing import Any

from cronsim import CronSimError
from quart import Blueprint

from ..store import RunMember, RunRecord, RunState, Store
from ..timetable import next_time
from .app import context
from .routes_deployments import find

runs = Blueprint("runs", __name__)


@runs.get("/deployments/<id_or_name>/runs")
async def deployment_runs(id_or_name: str) -> dict[str, Any]:
    record = find(id_or_name)
    store = context().store
    spec = record.spec
    answer: dict[str, Any] = {
        "desired_state": spec.desired_state,
        "schedule": None if spec.schedule is None else spec.schedule.model_dump(),
        "restart_schedule": (
            None if spec.restart_schedule is None else spec.restart_schedule.model_dump()
        ),
    }
    for kind, schedule, last_key, next_key in (
        ("run", spec.schedule, "last_fire_at", "next_run_at"),
        ("restart", spec.restart_schedule, "last_restart_at", "next_restart_at"),
    ):
        last = store.last_fire(record.id, kind)
        answer[last_key] = last
        after = last if last is not None else time.time()
        # Stopped, it lets its times pass: no next time is one it will act on.
        stopped = spec.desired_state == "stopped"
        answer[next_key] = None if schedule is None or stopped else _next(schedule, after)
    answer["runs"] = [run_json(store, run) for run in store.list_runs(record.id)]
    return answer


def _next(schedule: Any, after: float) -> float | None:
    """The next time, or None for a schedule that can no longer be read (accepted under
    an older zone database or parser; the Timetable skips it and logs why)."""
    try:
        return next_time(schedule, after)
    except (ValueError, CronSimError):
        return None


def run_json(store: Store, run: RunRecord) -> dict[str, Any]:
    """One run as the API returns it."""
    return {
        "number": run.number,
        "state": run.state.value,
        "scheduled_at": run.scheduled_at,
        "started_at": run.started_at,
        "finished_at": run.finished_at,
        "catch_up": run.catch_up,
        "instances": [_member(store, run, m) for m in run.members],
    }


def _member(store: Store, run: RunRecord, member: RunMember) -> dict[str, Any]:
    state, code = member.state, member.exit_code
    if run.state is RunState.RUNNING and member.instance_id is not None:
        inst = store.get_instance(member.instance_id)
        if inst is not None:
            state, code = inst.state.value, inst.exit_code
    return {
        "replica": member.replica,
        "instance_id": member.instance_id,
        "state": state,
        "exit_code": code,
    }
