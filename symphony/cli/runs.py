"""``symphony runs``: a scheduled deployment's runs, newest first, with exit codes.

    symphony runs nightly
    # schedule: 30 2 * * * (Europe/Berlin), concurrency forbid, keeps 10 runs
    # next run: 2026-06-02 02:30:00 Europe/Berlin
    # RUN  STATE      SCHEDULED            STARTED              FINISHED             EXIT CODES
    # 3    running    2026-06-01 02:30:00  2026-06-01 02:30:00  -                    -
    # 2    failed     2026-05-31 02:30:00  2026-05-31 02:30:00  2026-05-31 02:41:12  0 1

A catch-up run (made up for times missed while the Conductor was down) is marked
``(catch-up)`` after its state. Times are in the schedule's time zone, as its cron
expression is.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from . import _table as t
from ._remote import add_conductor_flag, call, client

HEADERS = ("RUN", "STATE", "SCHEDULED", "STARTED", "FINISHED", "EXIT CODES")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    runs = subparsers.add_parser(
        "runs",
        help="a scheduled deployment's runs and exit codes",
        description="A scheduled deployment's runs, newest first, with their exit codes, "
        "and when its schedules fire next.",
    )
    runs.add_argument("name", metavar="NAME", help="deployment name or id")
    runs.add_argument("--json", action="store_true", help="print the API's JSON instead")
    add_conductor_flag(runs)
    runs.set_defaults(handler=run_runs)


def run_rows(runs: list[dict[str, Any]], zone: str | None = None) -> list[list[Any]]:
    """The table rows of ``symphony runs``, times in ``zone`` (pure, for tests)."""
    rows = []
    for run in runs:
        codes = [i.get("exit_code") for i in run.get("instances", [])]
        state = str(run.get("state")) + (" (catch-up)" if run.get("catch_up") else "")
        rows.append(
            [
                run.get("number"),
                state,
                t.clock(run.get("scheduled_at"), zone),
                t.clock(run.get("started_at"), zone),
                t.clock(run.get("finished_at"), zone),
                " ".join(t.NONE if c is None else str(c) for c in codes) or t.NONE,
            ]
        )
    return rows


def summary(answer: dict[str, Any]) -> list[str]:
    """The lines above the table: the schedules and their next times."""
    lines = []
    schedule = answer.get("schedule")
    if schedule:
        lines.append(
            f"schedule: {schedule['cron']} ({schedule['timezone']}), concurrency "
            f"{schedule['concurrency']}, keeps {schedule['history']} runs"
        )
        zone = schedule["timezone"]
        lines.append(f"next run: {_next(answer, 'next_run_at', zone)}")
    restart = answer.get("restart_schedule")
    if restart:
        lines.append(f"restart schedule: {restart['cron']} ({restart['timezone']})")
        zone = restart["timezone"]
        lines.append(f"next restart: {_next(answer, 'next_restart_at', zone)}")
    if not schedule and not restart:
        lines.append("not scheduled: the spec has no schedule or restart_schedule")
    return lines


def _next(answer: dict[str, Any], key: str, zone: str) -> str:
    """When a schedule acts next, in its zone; a stopped deployment lets its times pass."""
    if answer.get("desired_state") == "stopped":
        name = answer.get("name") or "NAME"
        return f"none while it is stopped (its times pass; `symphony start {name}` resumes it)"
    return f"{t.clock(answer.get(key), zone)} {zone}"


def run_runs(args: argparse.Namespace) -> int:
    api = client(args)
    answer = call(api, api.runs, args.name)
    if args.json:
        t.emit(json.dumps(answer, indent=2))
        return 0
    text = "\n".join(summary({"name": args.name, **answer}))
    if answer.get("runs"):
        # The times a schedule speaks of are its zone's ("30 2 * * *" is 02:30 there),
        # whatever this machine's zone is.
        zone = (answer.get("schedule") or {}).get("timezone")
        text += "\n" + t.table(HEADERS, run_rows(answer["runs"], zone))
    elif answer.get("schedule"):
        text += "\nno runs yet"
    t.emit(text)
    return 0
