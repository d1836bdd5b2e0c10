"""``symphony restart NAME``: replace every instance of a deployment by a new one, a few at
a time (a rolling restart), or all at once.

    $ symphony restart web
    deployment web: rolling to version 4 (1 new, 0 healthy, 3 old): rolling restart of version 3
    $ symphony restart web --all-at-once
    deployment web: stopping 3 instance(s)
    deployment web: starting again

New instances are built from the spec and the secrets as they are now, so this is how
a changed secret (``symphony secret set``) reaches a running job. By default the
Conductor rolls the restart as it rolls an update (``POST /deployments/{id}/restart``):
the spec's ``update`` policy says how many at a time, and the next ones start only once
the new ones are healthy, so the service has no gap. ``--all-at-once`` stops every
instance, waits until they are gone, then starts new ones (a gap): for a job that
cannot run two copies at once (a fixed port, a singleton). Neither restarts a process of
an experiment (its processes are placed together): the experiment is stopped and started
whole (``PATCH /experiments/{name}``, ``Client.update_experiment``).
"""

from __future__ import annotations

import argparse
from typing import Any

from ._errors import CLIError
from ._remote import add_conductor_flag, call, client
from ._wait import add_wait_flags, wait_after


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    text = "replace a deployment's instances by new ones, a few at a time (or all at once)"
    parser = subparsers.add_parser("restart", help=text, description=__doc__.split("\n\n")[0])
    parser.add_argument("name", metavar="NAME", help="deployment name or id")
    parser.add_argument(
        "--all-at-once",
        action="store_true",
        help="stop every instance, then start new ones (a gap; for jobs that cannot run "
        "two copies at once)",
    )
    add_wait_flags(parser, "the new instances run (rolled out: healthy, old ones gone)")
    add_conductor_flag(parser)
    parser.set_defaults(handler=restart)


def restart(args: argparse.Namespace) -> int:
    if args.all_at_once:
        return _all_at_once(args)
    from .rollout import roll_summary

    api = client(args)
    rolling: dict[str, Any] = call(api, api.restart, args.name)
    print(roll_summary(rolling), flush=True)
    if args.wait:
        return wait_after(api, rolling, timeout=args.timeout)
    return 0


def _all_at_once(args: argparse.Namespace) -> int:
    api = client(args)
    current: dict[str, Any] = call(api, api.get_deployment, args.name)
    experiment = (current.get("spec") or {}).get("experiment")
    if experiment:  # a PATCH refuses its desired_state: say so before stopping anything
        from symphony.conductor.deployments.restarting import experiment_refusal

        raise CLIError(
            experiment_refusal(current["name"], experiment["process"], experiment["name"])
        )
    live = [i for i in current.get("instances") or [] if i.get("finished_at") is None]
    if current.get("desired_state") == "running":
        # Stopped first even with nothing live: only a start from stopped runs the
        # replicas of a job that ended again (running to running changes nothing).
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
