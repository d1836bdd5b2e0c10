"""``symphony stop``, ``start``, ``scale``, ``rm``: change what a deployment should be doing.

    symphony stop web          # desired_state: stopped (instances stop; the deployment stays)
    symphony start web         # desired_state: running
    symphony scale web 5       # replicas: 5
    symphony rm web batch-1    # delete (stops every process group first)
    symphony rm --regex '^test-'      # asks first when several match (-y: do not ask)

Each asks the Conductor, which owns the change; the command returns when the Conductor
has recorded it (``rm`` once the processes are gone), not when instances have settled:
watch that with ``symphony ps``.
"""

from __future__ import annotations

import argparse
import re
from typing import Any

from ._errors import CLIError
from ._remote import add_conductor_flag, call, client
from ._wait import add_wait_flags, wait, wait_after
from .deploy import non_negative


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, state, text in (
        ("stop", "stopped", "stop a deployment's instances (it stays, to start again)"),
        ("start", "running", "start a stopped deployment again"),
    ):
        parser = subparsers.add_parser(name, help=text, description=text)
        parser.add_argument("name", metavar="NAME", help="deployment name or id")
        add_wait_flags(parser, "every instance is stopped" if name == "stop" else "all run")
        add_conductor_flag(parser)
        parser.set_defaults(handler=set_state, desired_state=state)

    scale = subparsers.add_parser(
        "scale", help="set a deployment's replicas", description="set a deployment's replicas"
    )
    scale.add_argument("name", metavar="NAME", help="deployment name or id")
    scale.add_argument("replicas", metavar="N", type=non_negative, help="instances wanted (>= 0)")
    add_wait_flags(scale, "N replicas run and no others")
    add_conductor_flag(scale)
    scale.set_defaults(handler=set_replicas)

    rm = subparsers.add_parser(
        "rm",
        help="delete deployments (their processes are stopped first)",
        description="Delete deployments; their processes are stopped first.",
    )
    rm.add_argument("names", metavar="NAME", nargs="+", help="names or ids (patterns with --regex)")
    rm.add_argument(
        "--regex", action="store_true", help="NAMEs are regular expressions matched by search"
    )
    rm.add_argument(
        "-y",
        "--yes",
        "-f",
        "--force",
        dest="yes",
        action="store_true",
        help="remove what --regex matches without asking, however many (as db -f)",
    )
    add_wait_flags(rm, "each is gone")
    add_conductor_flag(rm)
    rm.set_defaults(handler=remove, parser=rm)


#: The order states are listed in a summary (``1 running, 2 starting``).
STATE_ORDER = ("running", "starting", "restarting", "assigned", "pending", "stopping")


def after_change(deployment: dict[str, Any]) -> str:
    """What the instances are doing once the Conductor acts on the change just recorded.

    The API answers as soon as the change is recorded, before the instances have moved,
    so its counts describe the moment before (``replicas 3 (2 running)`` for a stop).
    This says where they are headed instead, from the new spec and the live instances:
    the replicas past the wanted count (or all, when stopped) are stopping, the missing
    ones starting, the others as they are (pure, for tests)::

        3 stopping            symphony stop, with 3 live
        2 running, 3 starting symphony scale 5, with 2 running
    """
    replicas = deployment.get("replicas") or {}
    wanted = replicas.get("desired") or 0
    if deployment.get("desired_state") == "stopped":
        wanted = 0
    live = [i for i in deployment.get("instances") or [] if i.get("finished_at") is None]
    counts: dict[str, int] = {}
    kept = set()
    for inst in live:
        state = inst.get("state") or "starting"
        replica = inst.get("replica")
        if state != "stopping" and isinstance(replica, int) and replica < wanted:
            kept.add(replica)
        else:
            state = "stopping"
        counts[state] = counts.get(state, 0) + 1
    if wanted > len(kept):
        counts["starting"] = counts.get("starting", 0) + wanted - len(kept)
    order = [s for s in STATE_ORDER if s in counts] + sorted(set(counts) - set(STATE_ORDER))
    return ", ".join(f"{counts[s]} {s}" for s in order) or "none running"


def _summary(deployment: dict[str, Any]) -> str:
    replicas = deployment.get("replicas") or {}
    return (
        f"deployment {deployment.get('name')}: desired {deployment.get('desired_state')}, "
        f"replicas {replicas.get('desired', '?')}: {after_change(deployment)}"
    )


def set_state(args: argparse.Namespace) -> int:
    return _change(args, {"desired_state": args.desired_state})


def set_replicas(args: argparse.Namespace) -> int:
    return _change(args, {"replicas": args.replicas})


def _change(args: argparse.Namespace, patch: dict[str, Any]) -> int:
    api = client(args)
    updated = call(api, api.update_deployment, args.name, patch)
    print(_summary(updated), flush=True)
    if args.wait:
        return wait_after(api, updated, timeout=args.timeout)
    return 0


def matching(patterns: list[str], names: list[str]) -> list[str]:
    """The names that any of ``patterns`` (regular expressions) finds, in list order."""
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise CLIError(f"bad regular expression {pattern!r}: {exc}") from None
    return [name for name in names if any(p.search(name) for p in compiled)]


def remove(args: argparse.Namespace) -> int:
    if "" in args.names:  # `rm --regex "$PREFIX"` with PREFIX unset would find them all
        args.parser.error(
            "an empty pattern matches every deployment: give one that says what it means "
            "(--regex . for all of them; rm asks before removing several)"
            if args.regex
            else "a NAME is empty"
        )
    api = client(args)
    targets = list(dict.fromkeys(args.names))
    if args.regex:
        everything = [d["name"] for d in call(api, api.list_deployments)]
        targets = matching(targets, everything)
        if not targets:
            raise CLIError(f"no deployment matches {' or '.join(map(repr, args.names))}")
        if len(targets) > 1 and not args.yes and not _confirmed(targets, args.names):
            print("nothing removed")
            return 1
    # Go on past a failure, so `rm a b c` removes what it can, then report it (exit 1).
    failures = []
    for name in targets:
        try:
            if args.wait:
                status = remove_waiting(api, name, timeout=args.timeout)
                if status != 0:
                    return status
                continue
            deleted = call(api, api.delete_deployment, name)
        except CLIError as exc:
            failures.append(str(exc))
            continue
        print(f"deployment {deleted.get('name', name)} removed")
    if failures:
        raise CLIError("; ".join(failures))
    return 0


def _confirmed(targets: list[str], patterns: list[str]) -> bool:
    """Whether the person at the terminal says yes to removing ``targets``; with no
    terminal to ask on, a refusal that names the flag a script passes."""
    from ._ask import confirm, listed, on_a_terminal

    found = f"{len(targets)} deployments: {listed(targets)}"
    if not on_a_terminal():
        shown = " or ".join(map(repr, patterns))
        raise CLIError(
            f"{shown} matches {found}; nothing removed: pass --yes to remove them all "
            "(there is no terminal to ask on)"
        )
    return confirm(f"remove {found}?")


def remove_waiting(api: Any, name: str, *, timeout: float) -> int:
    """Delete ``name`` with progress: the delete runs in a thread (it returns once every
    process group has stopped) while the deployment's instances are shown going."""
    import threading

    outcome: list[BaseException | None] = []

    def delete() -> None:
        try:
            call(api, api.delete_deployment, name)
            outcome.append(None)
        except BaseException as exc:  # handed to the main thread, raised there
            outcome.append(exc)

    worker = threading.Thread(target=delete, name=f"delete {name}", daemon=True)
    worker.start()

    def look() -> dict[str, Any] | None:
        if outcome:
            if outcome[0] is not None:
                raise outcome[0]
            return None
        try:
            found: dict[str, Any] = call(api, api.get_deployment, name)
        except CLIError:
            worker.join(timeout=5)  # gone already (404)? then the delete answers at once
            if outcome:
                return look()
            raise
        return {**found, "desired_state": "stopped"}  # deleting: its instances are going

    return wait(api, name, timeout=timeout, look=look)
