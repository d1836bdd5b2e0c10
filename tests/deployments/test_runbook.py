"""The runs bookkeeping of one scheduled deployment (pure rules, real SQLite): replica
blocks, what a restarted supervisor picks up, when a run ends and how."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

from symphony.conductor.deployments.messages import FireRun
from symphony.conductor.deployments.retries import Retries
from symphony.conductor.deployments.runs import RunBook
from symphony.conductor.store import DeploymentRecord, InstanceRecord, RunState, Store
from symphony.spec import parse_spec
from symphony.wire.states import InstanceState as S


class Notes:
    def __init__(self) -> None:
        self.kinds: list[str] = []

    def __call__(self, kind: str, message: str, *args: Any, **data: Any) -> None:
        self.kinds.append(kind)


def deployment(store: Store, concurrency: str, replicas: int = 2) -> DeploymentRecord:
    spec = parse_spec(
        {
            "name": "job",
            "replicas": replicas,
            "config": {"command": ["true"]},
            "schedule": {"cron": "* * * * *", "concurrency": concurrency, "history": 2},
        }
    )
    return store.create_deployment(spec)


def instance(record: DeploymentRecord, replica: int, state: S, code: int | None = None) -> Any:
    return InstanceRecord(
        id=f"i-{replica}-{state.value}", deployment_id=record.id, replica=replica, state=state,
        exit_code=code, finished_at=None if state in (S.RUNNING, S.PENDING) else 10.0,
    )  # fmt: skip


def test_runbook_allow_gives_each_run_its_own_replicas(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    record = deployment(store, "allow")
    book, notes, retries = RunBook(store, record.id), Notes(), Retries()
    assert book.width() == 0 and book.needs(0, None) is False
    assert book.fire(FireRun(record.id, 60.0, 60.0), record, {}, retries, notes) == []
    assert book.width() == 2 and book.needs(0, None) is True
    first = [instance(record, r, S.RUNNING) for r in (0, 1)]
    book.created(first)
    assert book.needs(0, first[0]) is None  # started: the usual rules decide now
    live = {i.id: i for i in first}
    book.fire(FireRun(record.id, 120.0, 120.0), record, live, retries, notes)
    assert book.width() == 4 and book.needs(2, None) is True and book.needs(1, None) is None
    assert [r.replicas for r in store.list_runs(record.id)] == [(2, 3), (0, 1)]


def test_runbook_a_restarted_supervisor_goes_on_with_its_runs(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    record = deployment(store, "forbid", replicas=1)
    book = RunBook(store, record.id)
    book.fire(FireRun(record.id, 60.0, 60.0), record, {}, Retries(), Notes())
    again = RunBook(store, record.id)  # restarted before the instance was made
    assert again.needs(0, None) is True
    made = instance(record, 0, S.RUNNING)
    again.created([made])
    assert RunBook(store, record.id).needs(0, made) is None


def test_runbook_settles_when_every_replica_ended_and_none_waits(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    record = deployment(store, "forbid")
    book, notes, retries = RunBook(store, record.id), Notes(), Retries()
    book.fire(FireRun(record.id, 60.0, 60.0), record, {}, retries, notes)
    done = [instance(record, 0, S.EXITED, 0), instance(record, 1, S.FAILED, 1)]
    book.created(done)
    retries.waiting.add(1)  # replica 1 will be rescheduled: the run goes on
    book.settle({i.id: i for i in done}, retries, 2, notes)
    assert [r.state for r in store.list_runs(record.id)] == [RunState.RUNNING]
    retries.waiting.clear()
    book.settle({i.id: i for i in done}, retries, 2, notes)
    (run,) = store.list_runs(record.id)
    assert run.state is RunState.FAILED and run.finished_at == 10.0
    assert [(m.replica, m.exit_code) for m in run.members] == [(0, 0), (1, 1)]
    assert notes.kinds == ["run-started", "run-failed"]
    assert book.width() == 0


def test_runbook_forbid_skips_and_replace_stops_the_old_run(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.db")
    record = deployment(store, "forbid", replicas=1)
    book, notes = RunBook(store, record.id), Notes()
    book.fire(FireRun(record.id, 60.0, 60.0), record, {}, Retries(), notes)
    running = instance(record, 0, S.RUNNING)
    book.created([running])
    assert book.fire(FireRun(record.id, 120.0, 120.0), record, {}, Retries(), notes) == []
    assert notes.kinds[-1] == "run-skipped" and len(store.list_runs(record.id)) == 1
    spec = record.spec.patched({"schedule": {"concurrency": "replace"}})
    replacing = replace(record, spec=spec)
    stops = book.fire(
        FireRun(record.id, 180.0, 180.0), replacing, {running.id: running}, Retries(), notes
    )
    assert stops == [(running, "run 1 replaced by run 2")]
    runs = store.list_runs(record.id)
    assert [(r.number, r.state) for r in runs] == [(2, RunState.RUNNING), (1, RunState.REPLACED)]
    assert runs[0].replicas == (1,)  # replica 0 is still stopping


def test_runbook_events_say_the_time_in_the_schedules_zone(tmp_path: Path) -> None:
    # Once, "run 1 for 2026-06-01 12:05 UTC started" stood beside a runs table that
    # showed the same run at 14:05, the time of its Europe/Berlin schedule.
    store = Store.open(tmp_path / "s.db")
    spec = {"cron": "5 14 * * *", "timezone": "Europe/Berlin", "concurrency": "forbid"}
    record = store.create_deployment(
        parse_spec({"name": "nightly", "config": {"command": ["true"]}, "schedule": spec})
    )
    messages: list[str] = []
    book = RunBook(store, record.id)
    at = 1_780_315_500.0  # 2026-06-01 12:05 UTC, 14:05 in Berlin (summer time)
    note = lambda kind, message, *args, **data: messages.append(message)  # noqa: E731
    book.fire(FireRun(record.id, at, at), record, {}, Retries(), note)
    book.fire(FireRun(record.id, at + 86_400, at + 86_400), record, {}, Retries(), note)
    assert messages == [
        "run 1 for 2026-06-01 14:05 Europe/Berlin started: 1 instance(s)",
        "run for 2026-06-02 14:05 Europe/Berlin skipped: run 1 is still running "
        "(concurrency: forbid)",
    ]
