"""``symphony stop``, ``start``, ``scale``, ``rm``: change what a deployment should be doing.

    symphony stop web          # desired_state: stopped (instances stop; the deployment stays)
    symphony start web         # desired_state: running
    symphony scale web 5       # replicas: 5
    symphony rm web batch-1    # delete (stops every process group first)
    symphony rm --regex '^test-'

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
from .deploy import non_negative


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, state, text in (
        ("stop", "stopped", "stop a deployment's instances (it stays, to start again)"),
        ("start", "running", "start a stopped deployment again"),
    ):
        parser = subparsers.add_parser(name, help=text, description=text)
        parser.add_argument("name", metavar="NAME", help="deployment name or id")
        add_conductor_flag(parser)
        parser.set_defaults(handler=set_state, desired_state=state)

    scale = subparsers.add_parser(
        "scale", help="set a deployment's replicas", description="set a deployment's replicas"
    )
    scale.add_argument("name", metavar="NAME", help="deployment name or id")
    scale.add_argument("replicas", metavar="N", type=non_negative, help="instances wanted (>= 0)")
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
    add_conductor_flag(rm)
    rm.set_defaults(handler=remove)


def _summary(deployment: dict[str, Any]) -> str:
    replicas = deployment.get("replicas") or {}
    return (
        f"deployment {deployment.get('name')}: desired {deployment.get('desired_state')}, "
        f"replicas {replicas.get('desired', '?')} ({replicas.get('running', 0)} running)"
    )


def set_state(args: argparse.Namespace) -> int:
    api = client(args)
    updated = call(api, api.update_deployment, args.name, {"desired_state": args.desired_state})
    print(_summary(updated))
    return 0


def set_replicas(args: argparse.Namespace) -> int:
    api = client(args)
    updated = call(api, api.update_deployment, args.name, {"replicas": args.replicas})
    print(_summary(updated))
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
    api = client(args)
    targets = list(dict.fromkeys(args.names))
    if args.regex:
        everything = [d["name"] for d in call(api, api.list_deployments)]
        targets = matching(targets, everything)
        if not targets:
            raise CLIError(f"no deployment matches {' or '.join(map(repr, args.names))}")
    # Go on past a failure, so `rm a b c` removes what it can, then report it (exit 1).
    failures = []
    for name in targets:
        try:
            deleted = call(api, api.delete_deployment, name)
        except CLIError as exc:
            failures.append(str(exc))
            continue
        print(f"deployment {deleted.get('name', name)} removed")
    if failures:
        raise CLIError("; ".join(failures))
    return 0
