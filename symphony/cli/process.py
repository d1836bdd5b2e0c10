"""``symphony process``/``p [EXP]`` and ``symphony visit``/``vi SERVICE``.

    $ symphony p
    Group      Name      Ready   Restarts   State
    -          learner   1       0          running: 23.2h
    agents-0   agent-0   1       2          running: 5.1m
    agents-0   agent-1   0       0          pending: no ready node has Analytic1 >= 6 free

``Ready`` is 1 while the process runs; ``State`` is its state with how long it has run,
or why it does not. ``symphony vi tensorboard`` opens the service that name is exposed
(or bound) as, through the Conductor (``/x/{experiment}/tensorboard/``): the link it
prints works once, in one browser, and leaves a cookie for that path only, so no token
shows in the address bar; ``--url-only`` prints it without opening a browser.
"""

from __future__ import annotations

import argparse
import time
from typing import Any

from ._experiment_lookup import (
    add_experiment_flag,
    cluster_of,
    current_or_only,
    experiment,
    given_experiment,
)
from ._intermixed import intermixed
from ._remote import add_conductor_flag, call

HEADERS = ("Group", "Name", "Ready", "Restarts", "State")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    process = subparsers.add_parser(
        "process",
        aliases=["p"],
        help="the processes of an experiment",
        description="The processes of EXP (default: the current experiment).",
    )
    process.add_argument("experiment", metavar="EXP", nargs="?", help="name or unique prefix")
    process.add_argument("--json", action="store_true", help="print the API's JSON instead")
    add_conductor_flag(process)
    intermixed(process)  # options between the positionals
    process.set_defaults(handler=run_process)

    visit = subparsers.add_parser(
        "visit",
        aliases=["vi"],
        help="open an exposed service in a browser",
        description="Open SERVICE (a name a process exposes or binds) in a browser, through "
        "the Conductor: prints a link that works once and leaves a cookie for the service.",
    )
    visit.add_argument("service", metavar="SERVICE", help="the exposed (or bound) name")
    visit.add_argument(
        "experiment", metavar="EXP", nargs="?", help="default: the current one (or -e EXP)"
    )
    add_experiment_flag(visit)
    visit.add_argument("--url-only", action="store_true", help="print the URL, open nothing")
    add_conductor_flag(visit)
    intermixed(visit)  # options between the positionals
    visit.set_defaults(handler=run_visit)


def uptime(seconds: float) -> str:
    """The seed's running time: ``42s``, ``5.1m``, ``23.2h``, ``3.5d``.

    >>> [uptime(s) for s in (42, 306, 83520, 302400)]
    ['42s', '5.1m', '23.2h', '3.5d']
    """
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}"
    return f"{seconds:.0f}s"


def process_rows(
    processes: list[dict[str, Any]], started: dict[str, float], *, now: float
) -> list[list[Any]]:
    """The rows of ``symphony p`` (pure, for tests); ``started`` maps a process's
    deployment name to when its current run started."""
    rows = []
    for proc in processes:
        state = str(proc.get("state") or "?")
        since = started.get(str(proc.get("deployment")))
        if state == "running" and since is not None:
            state = f"running: {uptime(now - since)}"
        elif proc.get("reason"):
            state = f"{state}: {proc['reason']}"
        ready = 1 if proc.get("state") == "running" else 0
        rows.append([proc.get("group"), proc.get("name"), ready, proc.get("restarts"), state])
    return rows


def run_process(args: argparse.Namespace) -> int:
    import json

    from . import _table as t

    cluster = cluster_of(args)
    name = current_or_only(cluster, args.experiment)
    found = experiment(cluster, name)
    if args.json:
        t.emit(json.dumps(found, indent=2))
        return 0
    deployments = call(cluster.client, cluster.client.list_deployments, name=name)
    started = {}
    for dep in deployments:
        live = [i for i in dep.get("instances") or [] if i.get("state") == "running"]
        if live and isinstance(live[0].get("started_at"), int | float):
            started[str(dep.get("name"))] = float(live[0]["started_at"])
    rows = process_rows(found.get("processes") or [], started, now=time.time())
    text = t.table(HEADERS, rows)
    t.emit(t.fit(text, t.terminal_width()))
    return 0


def visit_target(args: argparse.Namespace) -> str | None:
    """The experiment ``vi`` was given (``EXP`` or ``-e EXP``; ``None``: the default)."""
    return given_experiment(args, args.experiment)


def run_visit(args: argparse.Namespace) -> int:
    wanted = visit_target(args)
    cluster = cluster_of(args)
    name = current_or_only(cluster, wanted)
    link = call(cluster.client, cluster.client.visit_link, name, args.service)
    url = str(link["url"])
    print(url)
    if not args.url_only:
        import webbrowser

        webbrowser.open(url)
    return 0
