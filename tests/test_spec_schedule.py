"""``schedule`` and ``restart_schedule`` in a spec: defaults, and every malformed input
refused at submit with its field path."""

from __future__ import annotations

import pytest

from symphony.spec import SpecError, parse_spec, time_zone


def minimal(**fields: object) -> dict[str, object]:
    return {"config": {"command": ["true"]}, **fields}


def errors_of(data: object) -> dict[str, str]:
    with pytest.raises(SpecError) as info:
        parse_spec(data)
    return {e["path"]: e["message"] for e in info.value.errors}


def test_schedule_defaults_and_round_trip() -> None:
    spec = parse_spec(minimal(schedule={"cron": "*/5 * * * *"}))
    assert spec.schedule is not None
    assert spec.schedule.timezone == "UTC"
    assert spec.schedule.concurrency == "forbid"
    assert spec.schedule.history == 10
    assert spec.restart_schedule is None
    assert parse_spec(spec.to_dict()) == spec
    restart = parse_spec(minimal(restart_schedule={"cron": "0 4 * * *", "timezone": "Asia/Tokyo"}))
    assert restart.restart_schedule is not None and restart.restart_schedule.cron == "0 4 * * *"


def test_schedule_patch_can_add_and_remove_it() -> None:
    spec = parse_spec(minimal())
    scheduled = spec.patched({"schedule": {"cron": "0 * * * *", "concurrency": "replace"}})
    assert scheduled.schedule is not None and scheduled.schedule.concurrency == "replace"
    assert scheduled.patched({"schedule": None}).schedule is None


@pytest.mark.parametrize(
    ("cron", "words"),
    [
        ("* * *", "five fields"),
        ("* * * * * *", "five fields"),
        ("@daily", "five fields"),
        ("", "five fields"),
        ("61 * * * *", "Bad minute"),
        ("0 0 30 2 *", "Bad day-of-month"),
        ("* * * * *\n", "five fields"),
        ("*\t* * * *", "five fields"),
        ("0 0 * * mon\x00", "five fields"),
        ("x" * 5000, "five fields"),
    ],
)
def test_schedule_refuses_malformed_cron(cron: str, words: str) -> None:
    errors = errors_of(minimal(schedule={"cron": cron}))
    assert words in errors["schedule.cron"]
    assert words in errors_of(minimal(restart_schedule={"cron": cron}))["restart_schedule.cron"]


@pytest.mark.parametrize(
    "name", ["Mars/Olympus", "../etc/passwd", "/etc/localtime", "", "Europe/Berlin\n", "a" * 300]
)
def test_schedule_refuses_unknown_timezone(name: str) -> None:
    message = errors_of(minimal(schedule={"cron": "* * * * *", "timezone": name}))
    assert "time zone" in message["schedule.timezone"]


@pytest.mark.parametrize(
    ("schedule", "path"),
    [
        ({"cron": "* * * * *", "concurrency": "sometimes"}, "schedule.concurrency"),
        ({"cron": "* * * * *", "history": 0}, "schedule.history"),
        ({"cron": "* * * * *", "history": 101}, "schedule.history"),
        ({"cron": "* * * * *", "history": True}, "schedule.history"),
        ({"cron": "* * * * *", "history": "3"}, "schedule.history"),
        ({"cron": 5}, "schedule.cron"),
        ({"timezone": "UTC"}, "schedule.cron"),
        ({"cron": "* * * * *", "every": 5}, "schedule.every"),
    ],
)
def test_schedule_refuses_malformed_fields(schedule: dict[str, object], path: str) -> None:
    assert path in errors_of(minimal(schedule=schedule))


def test_schedule_must_be_an_object() -> None:
    assert "schedule" in errors_of(minimal(schedule="*/5 * * * *"))


def test_schedule_refuses_runs_that_never_end() -> None:
    message = errors_of(minimal(schedule={"cron": "* * * * *"}, restart_policy={"type": "always"}))
    assert "'always'" in message[""]
    for kind in ("never", "on-failure"):
        parse_spec(minimal(schedule={"cron": "* * * * *"}, restart_policy={"type": kind}))


def test_schedule_and_restart_schedule_exclude_each_other() -> None:
    both = minimal(schedule={"cron": "* * * * *"}, restart_schedule={"cron": "0 4 * * *"})
    assert "exclude each other" in errors_of(both)[""]


def test_schedule_zone_helper_names_the_rule() -> None:
    assert str(time_zone("Europe/Berlin")) == "Europe/Berlin"
    with pytest.raises(ValueError, match="IANA"):
        time_zone("Nowhere/Land")
