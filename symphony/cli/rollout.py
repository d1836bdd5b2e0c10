"""``symphony history``, ``rollback``, ``promote``: a deployment's versions and rolls.

    symphony history web          # the kept versions, the current one marked
    symphony rollback web         # back to the last good version before this one
    symphony rollback web 1       # back to version 1 (it rolls out like any update)
    symphony promote web          # canaries look good: roll the rest

A version is one template of the spec (command, env, capacity requests, health
check...): scaling, stopping and starting make none. See docs/jobs.md.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from ._intermixed import intermixed
from ._remote import add_conductor_flag, call, client


def version_number(text: str) -> int:
    """An argparse type: a version, a whole number from 1. Its own message for every bad
    word: argparse's own for a ``ValueError`` names the function, not the argument."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"a version is a whole number from 1, got {text!r}")
    return value


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    text = "a deployment's kept versions and how their rolls went"
    history = subparsers.add_parser("history", help=text, description=text)
    history.add_argument("name", metavar="NAME", help="deployment name or id")
    add_conductor_flag(history)
    history.set_defaults(handler=show_history)

    text = "go back to a kept version (default: the last good one); it rolls out"
    rollback = subparsers.add_parser("rollback", help=text, description=text)
    rollback.add_argument("name", metavar="NAME", help="deployment name or id")
    rollback.add_argument(
        "version", metavar="VERSION", nargs="?", type=version_number, help="a kept version"
    )
    add_conductor_flag(rollback)
    intermixed(rollback)  # options between the positionals
    rollback.set_defaults(handler=roll_back)

    text = "promote a rolling update's canaries: the roll goes on"
    promote = subparsers.add_parser("promote", help=text, description=text)
    promote.add_argument("name", metavar="NAME", help="deployment name or id")
    add_conductor_flag(promote)
    promote.set_defaults(handler=promote_canaries)


def history_rows(versions: list[dict[str, Any]], now: float) -> list[list[Any]]:
    """Rows of ``symphony history`` (pure, for tests): newest version first."""
    from ._table import duration

    rows = []
    for v in sorted(versions, key=lambda v: -int(v.get("version") or 0)):
        created = v.get("created_at")
        command = ((v.get("spec") or {}).get("config") or {}).get("command") or []
        rows.append(
            [
                f"{v.get('version')}{' *' if v.get('current') else ''}",
                v.get("status"),
                duration(None if created is None else now - float(created)),
                " ".join(str(part) for part in command),
                v.get("reason"),
            ]
        )
    return rows


def show_history(args: argparse.Namespace) -> int:
    from ._table import table

    api = client(args)
    versions = call(api, api.versions, args.name)
    headers = ["VERSION", "STATUS", "AGE", "COMMAND", "REASON"]
    print(table(headers, history_rows(versions, time.time())))
    return 0


#: What each roll state reads as before "version N". "promoted" is also the state of a
#: rollback (it rolls without canaries): either way the roll goes on.
_DOING = {
    "rolling": "rolling to",
    "promoted": "rolling to",
    "canary": "canaries of",
    "reverting": "reverting to",
    "paused": "paused rolling to",
}


def roll_summary(deployment: dict[str, Any]) -> str:
    """One line on the deployment's version and roll (pure, for tests)."""
    name, version = deployment.get("name"), deployment.get("version")
    roll = deployment.get("rollout")
    if not roll:
        return f"deployment {name}: version {version}"
    doing = _DOING.get(str(roll.get("state")), f"{roll.get('state')} to")
    line = (
        f"deployment {name}: {doing} version {version} "
        f"({roll.get('new')} new, {roll.get('new_healthy')} healthy, {roll.get('old')} old)"
    )
    return line + (f": {roll['reason']}" if roll.get("reason") else "")


def roll_back(args: argparse.Namespace) -> int:
    api = client(args)
    return _report(args, api, call(api, api.rollback, args.name, args.version))


def promote_canaries(args: argparse.Namespace) -> int:
    api = client(args)
    return _report(args, api, call(api, api.promote, args.name))


def _report(args: argparse.Namespace, api: Any, deployment: dict[str, Any]) -> int:
    # The roll takes a while: `symphony ps` and `symphony history` show how it goes.
    print(roll_summary(deployment), flush=True)
    return 0
