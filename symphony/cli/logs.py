"""``symphony logs`` and ``symphony events``: a deployment's output and its history.

    symphony logs ticker                  # the last 100 lines of stdout
    symphony logs ticker -f --tail 10     # then follow new lines until Ctrl-C
    symphony logs ticker --stderr --instance ticker-1-0a9e3c
    symphony logs ticker --since 10m -t   # what arrived in the last 10 minutes, with times
    symphony logs agent-0                 # a process of the current experiment
    symphony logs agents-0/agent-0 rl     # ... of experiment rl, by group and name
    symphony events ticker                # placed, started, exited (code 1), restarted...

With several instances and no ``--instance``, the Conductor picks which output to show
(see ``docs/cli.md``). Output is written as it arrives, so ``symphony logs -f x | grep``
works, and a closed pipe (``| head``) ends the command quietly.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from . import _table as t
from ._errors import CLIError
from ._intermixed import intermixed
from ._reader import write_until_reader_leaves
from ._remote import add_conductor_flag, call, client
from .deploy import non_negative

EVENT_HEADERS = ("TIME", "KIND", "INSTANCE", "MESSAGE")


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    logs = subparsers.add_parser(
        "logs",
        help="print (or follow) a deployment's output",
        description="Print a deployment's output: stdout unless --stderr; -f follows it.",
    )
    logs.add_argument(
        "name",
        metavar="NAME",
        help="a process of the current experiment (group/process where names repeat), "
        "else a deployment name or id",
    )
    logs.add_argument(
        "experiment", metavar="EXP", nargs="?", help="NAME is a process of this experiment"
    )
    logs.add_argument(
        "--deployment", action="store_true", help="NAME is a deployment, not a process"
    )
    logs.add_argument("-f", "--follow", action="store_true", help="keep printing new lines")
    logs.add_argument(
        "--tail",
        type=non_negative,
        metavar="N",
        help="last N lines (default 100; with --since, every line since)",
    )
    logs.add_argument(
        "--since",
        metavar="WHEN",
        help="only lines that arrived since: a duration (10m, 1h30m, 2d) or an RFC 3339 time",
    )
    logs.add_argument(
        "-t", "--timestamps", action="store_true", help="start each line with its arrival time"
    )
    logs.add_argument("--instance", metavar="ID", help="one instance's output (id or replica)")
    logs.add_argument("--stderr", action="store_true", help="standard error instead of stdout")
    add_conductor_flag(logs)
    intermixed(logs)  # options between the positionals
    logs.set_defaults(handler=run_logs)

    events = subparsers.add_parser(
        "events",
        help="a deployment's event history",
        description="A deployment's event history (every event kept), oldest first.",
    )
    events.add_argument("name", metavar="NAME", help="deployment name or id")
    events.add_argument("--limit", type=non_negative, metavar="N", help="the first N events")
    events.add_argument("--tail", type=non_negative, metavar="N", help="the newest N events")
    events.add_argument("--json", action="store_true", help="print the API's JSON instead")
    add_conductor_flag(events)
    events.set_defaults(handler=run_events)


def run_logs(args: argparse.Namespace) -> int:
    from ._experiment_lookup import cluster_of, log_target

    cluster = cluster_of(args)
    api = cluster.client
    name = args.name if args.deployment else log_target(cluster, args.name, args.experiment)
    options: dict[str, Any] = {
        "tail": args.tail,
        "instance": args.instance,
        "stream": "stderr" if args.stderr else "stdout",
        "since": args.since,
        "timestamps": args.timestamps,
    }
    out = sys.stdout
    try:
        if not args.follow:
            out.write(call(api, api.logs, name, **options))
            out.flush()
            return 0
        chunks = call(api, api.follow_logs, name, **options)
        write_until_reader_leaves(lambda: call(api, next, chunks, None), out)
        return 0
    except BrokenPipeError:  # the reader went away (`| head`): not an error
        t.quiet_stdout()
        return 0


def event_rows(events: list[dict[str, Any]]) -> list[list[Any]]:
    """The rows of ``symphony events`` (pure, for tests)."""
    return [
        [t.clock(e.get("at")), e.get("kind"), e.get("instance_id"), e.get("message")]
        for e in events
    ]


#: Events asked for per request (the API's largest page).
EVENTS_PAGE = 1000
#: The most pages one ``symphony events`` reads: a Conductor keeps 1,000 events of a
#: deployment unless told otherwise, so a million is a listing that does not end.
MAX_EVENT_PAGES = 1000


def all_events(api: Any, name: str, limit: int | None) -> list[dict[str, Any]]:
    """Every kept event of ``name``, oldest first (at most ``limit``), a page at a time:
    one request answers at most a page, and the newest are the ones that matter.

    Each page must end past the one before (ids grow), and the listing within
    :data:`MAX_EVENT_PAGES` pages: a server that answers the same page again (or counts
    on for ever) would otherwise be asked for ever, its pages kept in memory; and a
    page larger than asked for is refused (so at most a million events are kept)."""
    found: list[dict[str, Any]] = []
    after, pages = 0, 0
    while limit is None or len(found) < limit:
        if pages == MAX_EVENT_PAGES:
            raise CLIError(
                f"unexpected answer: more than {MAX_EVENT_PAGES:,} pages of events "
                f"({MAX_EVENT_PAGES * EVENTS_PAGE:,}) and no end; use --limit N"
            )
        pages += 1
        want = EVENTS_PAGE if limit is None else min(EVENTS_PAGE, limit - len(found))
        page = call(api, api.events, name, after=after, limit=max(want, 1))
        if len(page) > max(want, 1):  # a server that ignores the limit: pages without end
            raise CLIError(f"unexpected answer: a page of {len(page)} events, {want} asked for")
        found += page
        if len(page) < want or not page:
            break
        after = _next_after(page, after)
    return found if limit is None else found[:limit]


def _next_after(page: list[Any], after: int) -> int:
    """The cursor past ``page`` (its last event's id), refused unless it moves on."""
    last = page[-1].get("id") if isinstance(page[-1], dict) else None
    if not isinstance(last, int) or isinstance(last, bool):
        raise CLIError("unexpected answer: an event without a whole-number id")
    if last <= after:
        raise CLIError(
            f"unexpected answer: the events after id {after} end at id {last}: "
            "the listing goes round"
        )
    return last


def run_events(args: argparse.Namespace) -> int:
    api = client(args)
    events = all_events(api, args.name, args.limit)
    if args.tail is not None:
        events = events[-args.tail :] if args.tail else []
    if args.json:
        t.emit(json.dumps(events, indent=2))
        return 0
    if not events:
        if 0 in (args.tail, args.limit):
            return 0  # none asked for (as `tail -n 0`): not a sign there are none
        print(f"no events yet for {args.name} (as of {t.clock(time.time())})")
        return 0
    t.emit(t.table(EVENT_HEADERS, event_rows(events)))
    return 0
