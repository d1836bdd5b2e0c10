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
has a health check, or none left for a stop or a delete; a scheduled one between its
runs), 1 when it failed (its restart budget and reschedules spent, or a run ended after
the change with a non-zero code or a signal, even one the node restarts and one of a
replica the change did not touch), 3 when ``--timeout`` (default 300 s) passed first.

One look that shows every replica running proves little: a job that fails within
milliseconds is "running" between its start and the report of its exit, and one that
restarts at once (backoff 0) is "running" most of the time. So a replica counts once two
looks at least :data:`STEADY` apart show the same run (its start time and restart count
unchanged), and any run that ended in a failure after the change fails the wait: the
instance's restart count grew past what the change's answer showed, and its last exit
code is not 0.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Mapping
from typing import Any

from . import _table as t
from ._remote import call

#: Seconds between two looks at the deployment.
POLL = 0.5
#: Seconds a replica's run must last, seen at two looks, before the wait counts it: a
#: run that fails at once is reported ended well within this.
STEADY = 1.0
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


def progress(
    deployment: dict[str, Any] | None,
    since: float = 0.0,
    restarts: Mapping[str, int] | None = None,
) -> tuple[str, int, int, str | None]:
    """``(text, done, total, outcome)`` of one look at a deployment (pure, for tests).

    ``outcome`` is ``"done"``, ``"failed"``, ``"up"`` (every wanted replica runs at this
    look; :func:`wait` counts it once the same runs last :data:`STEADY` seconds) or
    ``None`` (not there yet). ``None`` for the deployment means it is gone (a delete has
    finished). ``since`` is when the change being waited for was made (the Conductor's
    clock): runs that ended before it (the stopped instances of a deployment being
    started again) do not count as its outcome. ``restarts`` maps each instance id to
    its restart count when the change was made (absent: 0); a live instance restarted
    past it after a failed run fails the look. ``None``: restart counts are not judged.
    """
    if deployment is None:
        return "removed", 1, 1, "done"
    instances = deployment.get("instances") or []
    live = [i for i in instances if i.get("finished_at") is None]
    counts: dict[str, int] = {}
    for inst in live:
        counts[inst.get("state") or "?"] = counts.get(inst.get("state") or "?", 0) + 1
    running = counts.pop("running", 0)
    others = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    if deployment.get("desired_state") == "stopped":
        text = f"{len(live)} left to stop" if live else "stopped"
        total = max(len(live), 1)
        return text, total - len(live), total, None if live else "done"
    wanted = int((deployment.get("replicas") or {}).get("desired") or 0)
    text = f"{running}/{wanted} running" + (f", {others}" if others else "")
    unhealthy = _not_healthy(deployment, live)
    if unhealthy:
        text += f" ({unhealthy} not healthy yet)"
    if deployment.get("pending_reason"):
        text += f" (pending: {deployment['pending_reason']})"
    if deployment.get("state") == "failed":
        return f"failed: {deployment.get('failure') or text}", running, wanted, "failed"
    if (deployment.get("spec") or {}).get("schedule") and not live:
        # Between runs: it starts replicas at its times only, so it is as asked.
        return f"scheduled: {deployment.get('pending_reason') or 'between runs'}", 1, 1, "done"
    failure = _failed_run(instances, since, restarts)
    if failure is not None:
        return f"failed: {failure}", running, wanted, "failed"
    ended = [i for i in instances if (i.get("updated_at") or 0) >= since]
    if deployment.get("state") == "exited" and not live and ended:
        return _ended(ended, wanted)
    up = running == wanted and len(live) == wanted and not unhealthy
    return text, running, wanted, "up" if up else None


def _not_healthy(deployment: dict[str, Any], live: list[dict[str, Any]]) -> int:
    """How many running instances its health check has not found healthy (yet): with a
    check, a replica counts once it is healthy, as a rolling update counts it."""
    spec = deployment.get("spec")
    if not isinstance(spec, Mapping) or spec.get("health_check") is None:
        return 0
    return sum(1 for i in live if i.get("state") == "running" and i.get("health") != "healthy")


def _failed(inst: dict[str, Any]) -> bool:
    return inst.get("signal") is not None or inst.get("exit_code") not in (None, 0)


def _how(inst: dict[str, Any]) -> str:
    signal, code = inst.get("signal"), inst.get("exit_code")
    how = f"was killed by {t.exit_text(None, signal)}" if signal else f"exited with code {code}"
    return f"{inst.get('id')} {how}"


def _failed_run(
    instances: list[dict[str, Any]], since: float, restarts: Mapping[str, int] | None
) -> str | None:
    """Which run that ended after the change failed, said as ``ID exited with code N``:
    a live instance restarted since (its last exit code is that run's), or one that
    ended for good (``exited``/``failed``) since."""
    for inst in instances:
        if not _failed(inst):
            continue
        if inst.get("finished_at") is None:
            before = None if restarts is None else restarts.get(str(inst.get("id")), 0)
            if before is not None and int(inst.get("restarts") or 0) > before:
                why = f"{inst['reason']}; " if inst.get("reason") else ""
                return f"{_how(inst)} ({why}the node restarts it)"
        elif inst.get("state") in ("exited", "failed") and (inst.get("updated_at") or 0) >= since:
            return _how(inst)
    return None


def _runs(deployment: dict[str, Any]) -> set[tuple[Any, ...]]:
    """The live runs of a deployment, each named by its instance, restart count and
    start: another run of the same instance is another name."""
    return {
        (i.get("id"), i.get("restarts"), i.get("started_at"))
        for i in deployment.get("instances") or []
        if i.get("finished_at") is None
    }


def _ended(instances: list[dict[str, Any]], wanted: int) -> tuple[str, int, int, str]:
    """A deployment whose instances all ran to their end (a batch job, or a job that may
    not restart): done if each replica's last run succeeded, else failed."""
    last: dict[Any, dict[str, Any]] = {}
    for inst in sorted(instances, key=lambda i: i.get("updated_at") or 0.0):
        last[inst.get("replica")] = inst
    bad = [i for i in last.values() if _failed(i)]
    if bad:
        return f"failed: {_how(bad[0])}", 0, wanted, "failed"
    return f"{len(last)}/{wanted} exited with code 0", wanted, wanted, "done"


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
    # When each live run was first seen while every wanted replica ran.
    first_seen: dict[tuple[Any, ...], float] = {}
    while True:
        deployment = look()
        text, done, total, outcome = progress(deployment, since, restarts)
        if outcome == "up" and deployment is not None:
            now = time.monotonic()
            first_seen = {run: first_seen.get(run, now) for run in _runs(deployment)}
            if all(now - seen >= STEADY for seen in first_seen.values()):
                outcome = "done"
        else:
            first_seen = {}
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
