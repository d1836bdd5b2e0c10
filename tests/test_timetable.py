"""The Timetable fires cron schedules by an injectable wall clock (moved by Trio's
autojump clock), across daylight-saving changes, once after an outage, as leader only."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import trio

from symphony.actors import spawn
from symphony.conductor.deployments.messages import FireRun, RestartDue, SchedulesChanged
from symphony.conductor.store import Store
from symphony.conductor.timetable import Timetable, due
from symphony.spec import parse_spec

from .timetable_helpers import Recorder, WallClock, local

BERLIN = ZoneInfo("Europe/Berlin")


def add(store: Store, name: str, **fields: object) -> str:
    spec = parse_spec({"name": name, "config": {"command": ["true"]}, **fields})
    return store.create_deployment(spec).id


def times_of(fired: list[object], deployment_id: str) -> list[str]:
    """The Berlin wall times ``deployment_id`` was fired for."""
    return [
        local(f.scheduled_at, "Europe/Berlin")  # type: ignore[attr-defined]
        for f in fired
        if f.deployment_id == deployment_id  # type: ignore[attr-defined]
    ]


async def run_timetable(
    store: Store, clock: WallClock, seconds: float, **options: object
) -> list[object]:
    """Run a Timetable for ``seconds`` of Trio time; what it fired."""
    recorder = Recorder()
    async with trio.open_nursery() as nursery:
        deployments = await spawn(nursery, recorder)
        await spawn(nursery, Timetable(store=store, deployments=deployments, now=clock, **options))  # type: ignore[arg-type]
        await trio.sleep(seconds)
        nursery.cancel_scope.cancel()
    return recorder.got


async def test_timetable_fires_at_each_cron_time(tmp_path: Path, autojump_clock: object) -> None:
    store = Store.open(tmp_path / "s.db")
    add(store, "five", schedule={"cron": "*/5 * * * *"})
    clock = WallClock(datetime(2026, 6, 1, 12, 2, 30, tzinfo=UTC))
    fired = await run_timetable(store, clock, 16 * 60)
    assert [local(f.scheduled_at) for f in fired] == [
        "2026-06-01 12:05+0000",
        "2026-06-01 12:10+0000",
        "2026-06-01 12:15+0000",
    ]
    assert all(isinstance(f, FireRun) and not f.catch_up for f in fired)
    assert all(abs(f.fired_at - f.scheduled_at) < 0.01 for f in fired)


async def berlin_nights(tmp_path: Path, start: datetime, hours: int) -> tuple[list[str], list[str]]:
    """Run a daily 02:30 and a half-hourly schedule in Berlin from ``start`` (Berlin
    wall time) for ``hours``; the local times each fired for."""
    store = Store.open(tmp_path / "s.db")
    zone = {"timezone": "Europe/Berlin"}
    daily = add(store, "daily", schedule={"cron": "30 2 * * *", **zone})
    half = add(store, "half", schedule={"cron": "*/30 * * * *", **zone})
    clock = WallClock(start.replace(tzinfo=BERLIN))
    fired = await run_timetable(store, clock, hours * 3600)
    return times_of(fired, daily), times_of(fired, half)


async def test_timetable_daylight_saving_skipped_hour(
    tmp_path: Path, autojump_clock: object
) -> None:
    """Berlin, 29 March 2026: 02:00 CET becomes 03:00 CEST. A daily 02:30 fires once,
    right after the change; a half-hourly schedule has no 02:xx times that night."""
    daily_times, half_times = await berlin_nights(tmp_path, datetime(2026, 3, 29, 0, 50), 27)
    assert daily_times == ["2026-03-29 03:00+0200", "2026-03-30 02:30+0200"]
    assert half_times[:4] == [
        "2026-03-29 01:00+0100",
        "2026-03-29 01:30+0100",
        "2026-03-29 03:00+0200",
        "2026-03-29 03:30+0200",
    ]
    # The night had one hour less: 23 hours of half-hourly times until 00:00 next day.
    assert len([t for t in half_times if t.startswith("2026-03-29")]) == 2 * 23 - 2


async def test_timetable_daylight_saving_repeated_hour(
    tmp_path: Path, autojump_clock: object
) -> None:
    """Berlin, 25 October 2026: 03:00 CEST becomes 02:00 CET. A daily 02:30 fires once
    (the first pass); a half-hourly schedule fires in both passes of the hour."""
    daily_times, half_times = await berlin_nights(tmp_path, datetime(2026, 10, 25, 1, 40), 26)
    assert daily_times == ["2026-10-25 02:30+0200", "2026-10-26 02:30+0100"]
    assert half_times[:5] == [
        "2026-10-25 02:00+0200",
        "2026-10-25 02:30+0200",
        "2026-10-25 02:00+0100",
        "2026-10-25 02:30+0100",
        "2026-10-25 03:00+0100",
    ]
    assert len(half_times) == len(set(half_times))  # never the same instant twice


async def test_timetable_catches_up_once_after_an_outage(
    tmp_path: Path, autojump_clock: object
) -> None:
    store = Store.open(tmp_path / "s.db")
    dep = add(store, "five", schedule={"cron": "*/5 * * * *"})
    clock = WallClock(datetime(2026, 6, 1, 12, 2, 30, tzinfo=UTC))
    first = await run_timetable(store, clock, 3 * 60)
    assert [local(f.scheduled_at) for f in first] == ["2026-06-01 12:05+0000"]
    assert store.last_fire(dep, "run") == first[0].scheduled_at
    clock.jump(3 * 3600)  # the Conductor was down for three hours (36 times missed)
    second = await run_timetable(store, clock, 60)
    assert len(second) == 1
    catch_up = second[0]
    assert catch_up.catch_up and catch_up.skipped == 35
    assert local(catch_up.scheduled_at) == "2026-06-01 15:05+0000"
    third = await run_timetable(store, clock, 5 * 60)
    assert [(local(f.scheduled_at), f.catch_up) for f in third] == [
        ("2026-06-01 15:10+0000", False)
    ]


async def test_timetable_dense_schedule_missed_for_a_month_is_cheap(
    tmp_path: Path, autojump_clock: object
) -> None:
    start = datetime(2026, 6, 1, tzinfo=UTC).timestamp()
    schedule = parse_spec({"config": {"command": ["t"]}, "schedule": {"cron": "* * * * *"}})
    assert schedule.schedule is not None
    found = due(schedule.schedule, start, start + 30 * 86_400 + 30)
    assert found.at == start + 30 * 86_400
    assert due(schedule.schedule, start, start + 59).at is None


async def test_timetable_new_and_changed_schedules_count_from_now(
    tmp_path: Path, autojump_clock: object
) -> None:
    store = Store.open(tmp_path / "s.db")
    clock = WallClock(datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC))
    recorder = Recorder()
    async with trio.open_nursery() as nursery:
        deployments = await spawn(nursery, recorder)
        table = await spawn(nursery, Timetable(store=store, deployments=deployments, now=clock))
        await trio.sleep(3600)
        dep = add(store, "hourly", schedule={"cron": "0 * * * *"})
        table.tell_nowait(SchedulesChanged())
        await trio.sleep(1)
        assert recorder.got == []  # 13:00 is due only at 13:00, not for the past
        record = store.get_deployment(dep)
        assert record is not None
        store.update_deployment(dep, record.spec.patched({"schedule": {"cron": "*/10 * * * *"}}))
        table.tell_nowait(SchedulesChanged())
        await trio.sleep(10 * 60)
        nursery.cancel_scope.cancel()
    assert [local(f.scheduled_at) for f in recorder.got] == ["2026-06-01 13:10+0000"]


async def test_timetable_fires_only_as_leader(tmp_path: Path, autojump_clock: object) -> None:
    store = Store.open(tmp_path / "s.db")
    dep = add(store, "five", schedule={"cron": "*/5 * * * *"})
    clock = WallClock(datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC))
    store.set_last_fire(dep, "run", clock())
    leader = False
    fired = await run_timetable(store, clock, 20 * 60, is_leader=lambda: leader)
    assert fired == []
    assert store.last_fire(dep, "run") == datetime(2026, 6, 1, 12, 0, 30, tzinfo=UTC).timestamp()
    leader = True
    fired = await run_timetable(store, clock, 60, is_leader=lambda: leader)
    assert len(fired) == 1 and fired[0].catch_up  # the new leader catches up once


async def test_timetable_restart_schedule_and_stopped_deployments(
    tmp_path: Path, autojump_clock: object
) -> None:
    store = Store.open(tmp_path / "s.db")
    restart = add(store, "service", restart_schedule={"cron": "0 4 * * *"})
    stopped = add(store, "idle", schedule={"cron": "0 * * * *"}, desired_state="stopped")
    clock = WallClock(datetime(2026, 6, 1, 3, 30, tzinfo=UTC))
    fired = await run_timetable(store, clock, 3600)
    assert [type(f) for f in fired] == [RestartDue]
    assert fired[0].deployment_id == restart
    assert local(fired[0].scheduled_at) == "2026-06-01 04:00+0000"
    # The stopped deployment let its time pass: starting it later runs nothing old.
    assert store.last_fire(stopped, "run") == datetime(2026, 6, 1, 4, tzinfo=UTC).timestamp()


async def test_timetable_skips_a_stored_schedule_it_cannot_read(
    tmp_path: Path, autojump_clock: object, caplog: pytest.LogCaptureFixture
) -> None:
    """A schedule accepted under an older zone database: the deployment stays readable,
    the Timetable logs it once and goes on firing the others."""
    store = Store.open(tmp_path / "s.db")
    broken = add(store, "broken", schedule={"cron": "*/5 * * * *", "timezone": "Europe/Berlin"})
    fine = add(store, "fine", schedule={"cron": "*/5 * * * *"})
    row = store._conn.execute("SELECT spec FROM deployments WHERE id = ?", (broken,)).fetchone()
    spec = json.loads(row[0])
    spec["schedule"]["timezone"] = "Atlantis/Capital"
    store._conn.execute("UPDATE deployments SET spec = ? WHERE id = ?", (json.dumps(spec), broken))
    record = store.get_deployment(broken)
    assert record is not None and record.spec.schedule is not None
    assert record.spec.schedule.timezone == "Atlantis/Capital"
    clock = WallClock(datetime(2026, 6, 1, 12, 2, 30, tzinfo=UTC))
    with caplog.at_level(logging.WARNING, logger="symphony.conductor.timetable"):
        fired = await run_timetable(store, clock, 6 * 60)
    assert [f.deployment_id for f in fired] == [fine]
    complaints = [r for r in caplog.records if "Atlantis/Capital" in r.getMessage()]
    assert len(complaints) == 1
