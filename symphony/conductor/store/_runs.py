"""Runs of scheduled deployments and the last time each schedule fired.

A *run* is one firing of a deployment's ``schedule``: it starts ``replicas`` instances
and ends when they all have ended. Each run keeps, per replica, the instance that ran
last and how it ended, so its history outlives the instance records (which are pruned).
Finished runs beyond the schedule's ``history`` are deleted as new ones finish; runs
still going are never deleted.

The last fire of each schedule (``run`` or ``restart``) is durable, so a restarted
Conductor knows which times it missed (and makes up for at most one of them).
"""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass, field

from ._base import StoreBase
from ._db import Row
from ._errors import CorruptRecord


class RunState(enum.StrEnum):
    """Where a run is: ``running`` until every instance ended, then ``succeeded`` (all
    exited 0), ``failed`` (any other end), ``stopped`` (the deployment was stopped or
    deleted) or ``replaced`` (a newer run replaced it: ``concurrency: replace``)."""

    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    STOPPED = "stopped"
    REPLACED = "replaced"


@dataclass(frozen=True, slots=True)
class RunMember:
    """One replica of a run: the instance that ran last for it, and how it ended."""

    replica: int
    instance_id: str | None = None
    state: str | None = None
    exit_code: int | None = None


@dataclass(frozen=True, slots=True)
class RunRecord:
    """One run. ``scheduled_at`` is the cron time it is for, ``started_at`` when it was
    fired (later for a catch-up run); Unix seconds."""

    deployment_id: str
    number: int
    scheduled_at: float
    started_at: float
    members: tuple[RunMember, ...] = field(default=())
    state: RunState = RunState.RUNNING
    finished_at: float | None = None
    catch_up: bool = False

    @property
    def replicas(self) -> tuple[int, ...]:
        return tuple(m.replica for m in self.members)


def _members(text: str) -> tuple[RunMember, ...]:
    return tuple(RunMember(**item) for item in json.loads(text))


def _record(row: Row) -> RunRecord:
    try:
        return RunRecord(
            deployment_id=row["deployment_id"],
            number=row["number"],
            scheduled_at=row["scheduled_at"],
            started_at=row["started_at"],
            members=_members(row["members"]),
            state=RunState(row["state"]),
            finished_at=row["finished_at"],
            catch_up=bool(row["catch_up"]),
        )
    except (ValueError, TypeError) as exc:
        raise CorruptRecord(f"run {row['deployment_id']}#{row['number']}: {exc}") from exc


class RunTable(StoreBase):
    def save_run(self, run: RunRecord, *, keep: int) -> None:
        """Insert or update ``run``; then keep only the ``keep`` newest finished runs of
        its deployment (durable on return)."""
        members = json.dumps(
            [
                {"replica": m.replica, "instance_id": m.instance_id}
                | {"state": m.state, "exit_code": m.exit_code}
                for m in run.members
            ]
        )
        with self._write() as conn:
            conn.execute(
                "INSERT INTO runs (deployment_id, number, scheduled_at, started_at, "
                "finished_at, state, catch_up, members) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(deployment_id, number) DO UPDATE SET "
                "finished_at = excluded.finished_at, state = excluded.state, "
                "members = excluded.members",
                (
                    run.deployment_id,
                    run.number,
                    run.scheduled_at,
                    run.started_at,
                    run.finished_at,
                    run.state.value,
                    int(run.catch_up),
                    members,
                ),
            )
            conn.execute(
                "DELETE FROM runs WHERE deployment_id = ? AND state != 'running' AND number "
                "NOT IN (SELECT number FROM runs WHERE deployment_id = ? AND "
                "state != 'running' ORDER BY number DESC LIMIT ?)",
                (run.deployment_id, run.deployment_id, keep),
            )

    def list_runs(self, deployment_id: str, *, active_only: bool = False) -> list[RunRecord]:
        """A deployment's runs, newest first (only those still running if asked)."""
        where = "deployment_id = ?" + (" AND state = 'running'" if active_only else "")
        rows = self._read(
            f"SELECT * FROM runs WHERE {where} ORDER BY number DESC", (deployment_id,)
        )
        return [_record(r) for r in rows]

    def last_run_number(self, deployment_id: str) -> int:
        """The highest run number the deployment used (0: none yet)."""
        rows = self._read(
            "SELECT COALESCE(MAX(number), 0) AS n FROM runs WHERE deployment_id = ?",
            (deployment_id,),
        )
        return int(rows[0]["n"])

    def last_fire(self, deployment_id: str, kind: str) -> float | None:
        """The cron time a deployment's ``kind`` schedule (``run``/``restart``) last fired."""
        rows = self._read(
            "SELECT fired_at FROM schedule_fires WHERE deployment_id = ? AND kind = ?",
            (deployment_id, kind),
        )
        return float(rows[0]["fired_at"]) if rows else None

    def set_last_fire(self, deployment_id: str, kind: str, at: float) -> None:
        """Record that the schedule fired for cron time ``at`` (durable on return)."""
        with self._write() as conn:
            conn.execute(
                "INSERT INTO schedule_fires (deployment_id, kind, fired_at) VALUES (?, ?, ?) "
                "ON CONFLICT(deployment_id, kind) DO UPDATE SET fired_at = excluded.fired_at",
                (deployment_id, kind, at),
            )
