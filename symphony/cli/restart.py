"""``symphony restart NAME``: stop every instance of a deployment, then start them again.

    $ symphony restart web
    deployment web: stopping 3 instance(s)
    deployment web: starting again

New instances are built from the spec and the secrets as they are now, so this is how
a changed secret (``symphony secret set``) reaches a running job. It is a plain stop and
start of all replicas at once (there is a gap), not a rolling update.
"""

from __future__ import annotations

import argparse
from typing import Any

from ._remote import add_conductor_flag, call, client
from ._wait import add_wait_flags, wait_after


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    text = "stop all of a deployment's instances, then start new ones"
    parser = subparsers.add_parser("restart", help=text, description=__doc__.split("\n\n")[0])
    parser.add_argument("name", metavar="NAME", help="deployment name or id")
    add_wait_flags(parser, "the new instances run")
    add_conductor_flag(parser)
    parser.set_defaults(handler=restart)


def restart(args: argparse.Namespace) -> int:
    api = client(args)
    current: dict[str, Any] = call(api, api.get_deployment, args.name)
    live = [i for i in current.get("instances") or [] if i.get("finished_at") is None]
    if current.get("desired_state") == "running" and live:
        print(f"deployment {current['name']}: stopping {len(live)} instance(s)", flush=True)
        stopped = call(api, api.update_deployment, args.name, {"desired_state": "stopped"})
        # The old instances must be gone before the new ones start (capacity, ports).
        status = wait_after(api, stopped, timeout=args.timeout)
        if status != 0:
            return status
    started = call(api, api.update_deployment, args.name, {"desired_state": "running"})
    print(f"deployment {started['name']}: starting again", flush=True)
    if args.wait:
        return wait_after(api, started, timeout=args.timeout)
    return 0
