"""``--wait``: follow a deployment until its instances have settled, showing progress.

    $ symphony deploy -f job.yaml --wait
    deployment web created (d_8c1f..., replicas 3)
    web  [##########----------]  2/3 running, 1 starting  4.2s
    web: 3/3 running (5.1s)

On a terminal the progress is one line redrawn in place; into a pipe or a file it is one
plain line per change, so logs of a CI job stay readable. The wait polls the deployment
(``GET /deployments/{id}``) every :data:`POLL` seconds: the commands that wait are short
lived, and a poll answer is the same view ``symphony ps`` shows.

Exit status: 0 when the deployment got where it was asked to go (every wanted replica
running, each the same run for at least :data:`STEADY` seconds and healthy if the spec
has a health check, and no roll under way; or none left for a stop or a delete; a
scheduled one between its runs; a roll whose canaries wait for ``symphony promote``,
saying so), 1 when it failed (its restart budget and reschedules
spent, a run ended after the change with a non-zero code or a signal, even one the node
restarts and one of a replica the change did not touch, or its roll failed: reverting
or paused), 3 when ``--timeout`` (default 300 s) passed first.

Why a replica counts only once the same run lasted :data:`STEADY` seconds (and how a
failed run after the change fails the wait) is said in :mod:`symphony.client.settle`,
whose rule :meth:`symphony.engine.Cluster.wait_running` follows too.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from symphony.client.settle import POLL, STEADY, Steady, progress, runs

from . import _table as t
from ._remote import call

__all__ = [
    "POLL",
    "STEADY",
    "TIMED_OUT",
    "Progress",
    "add_wait_flags",
    "progress",
    "wait",
    "wait_after",
]

#: Exit status when --timeout passes first.
TIMED_OUT = 3
DEFAULT_TIMEOUT = 300.0
BAR_WIDTH = 20


def add_wait_flags(parser: argparse.ArgumentParser, what: str) -> None:
    """``--wait`` and ``--timeout SECONDS``."""
    parser.add_argument(
        "--wait",
        action="store_true",
        help=f"wait until {what}, showing progress (exit 0; 1 if it failed, 3 on --timeout)",
    )
    parser.add_argument(
        "--timeout",
        type=_positive,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help=f"how long --wait waits (default {DEFAULT_TIMEOUT:g})",
    )


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text!r}")
    return value


class Progress:
    """Shows successive progress texts: redrawn in place on a terminal, else one line
    per change."""

    def __init__(self, name: str, *, live: bool | None = None) -> None:
        self.name = name
        self.live = sys.stdout.isatty() if live is None else live
        self.started = time.monotonic()
        self.last = ""

    def show(self, text: str, done: int, total: int) -> None:
        elapsed = t.duration(time.monotonic() - self.started)
        if self.live:
            filled = BAR_WIDTH * done // total if total else BAR_WIDTH
            bar = "#" * filled + "-" * (BAR_WIDTH - filled)
            line = f"{self.name}  [{bar}]  {text}  {elapsed}"
            width = t.terminal_width() or 80
            sys.stdout.write("\r" + t.fit(line, width - 1).ljust(width - 1))
            sys.stdout.flush()
        elif text != self.last:
            print(f"{self.name}: {text}", flush=True)
        self.last = text

    def finish(self, text: str) -> None:
        elapsed = t.duration(time.monotonic() - self.started)
        if self.live:
            sys.stdout.write("\r" + " " * ((t.terminal_width() or 80) - 1) + "\r")
        print(f"{self.name}: {text} ({elapsed})", flush=True)


def wait(
    api: Any,
    id_or_name: str,
    *,
    timeout: float,
    name: str | None = None,
    since: float = 0.0,
    restarts: Mapping[str, int] | None = None,
    look: Callable[[], dict[str, Any] | None] | None = None,
    live: bool | None = None,
) -> int:
    """Poll a deployment until it has settled; return the exit status (0, 1 or 3).

    ``look`` returns the deployment, or ``None`` once it is gone (default: GET it);
    ``name`` is what the progress lines call it (default: ``id_or_name``); ``since`` and
    ``restarts``: see :func:`progress`.
    """
    if look is None:

        def look() -> dict[str, Any] | None:
            found: dict[str, Any] = call(api, api.get_deployment, id_or_name)
            return found

    name = name or id_or_name
    shown = Progress(name, live=live)
    deadline = time.monotonic() + timeout
    steady = Steady()  # when each live run was first seen while every wanted replica ran
    while True:
        deployment = look()
        text, done, total, outcome = progress(deployment, since, restarts)
        if outcome == "up" and deployment is not None:
            if steady.lasted(runs(deployment), time.monotonic()):
                outcome = "done"
        else:
            steady.reset()
        if outcome == "done":
            shown.finish(text)
            return 0
        if outcome == "failed":
            shown.finish(text)
            return 1
        if time.monotonic() >= deadline:
            shown.finish(f"still {text}")
            print(
                f"symphony: error: timed out after {t.duration(timeout)} waiting for {name}; "
                "it goes on in the background (watch it with `symphony ps`)",
                file=sys.stderr,
            )
            return TIMED_OUT
        shown.show(text, done, total)
        time.sleep(min(POLL, max(0.0, deadline - time.monotonic())))


def wait_after(api: Any, answer: dict[str, Any], *, timeout: float) -> int:
    """:func:`wait` for a deployment as a create or a change just answered it: progress
    counts from that answer's ``updated_at`` on, and restarts past the counts it shows."""
    return wait(
        api,
        str(answer.get("id")),
        name=answer.get("name"),
        since=answer.get("updated_at") or 0.0,
        restarts={
            str(i.get("id")): int(i.get("restarts") or 0) for i in answer.get("instances") or []
        },
        timeout=timeout,
    )
