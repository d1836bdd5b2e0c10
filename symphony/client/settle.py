"""When a deployment has settled: the rule ``symphony deploy --wait`` and
:meth:`symphony.engine.Cluster.wait_running` share.

One look that shows every replica running proves little: a job that fails within
milliseconds is "running" between its start and the report of its exit, and one that
restarts at once (backoff 0) is "running" most of the time. So a replica counts once two
looks at least :data:`STEADY` apart show the same run (its start time and restart count
unchanged), and healthy if the spec has a health check; any run that ended in a failure
after the change fails the wait: the instance's restart count grew past what the change's
answer showed, and its last exit code is not 0.

A roll under way (an update, a rolling restart) is not settled even when every replica
runs: between two steps old instances still wait for their replacement. A roll that
failed (``reverting`` to the last good version, or ``paused``) fails the wait. A roll
whose canaries are healthy and wait for ``symphony promote`` (``canary``) has settled
as far as it can without a human: the wait ends there, saying so.

Pure functions of the API's JSON (no requests, no clock of their own), so each waiter
polls at its own pace and tests feed them looks.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping
from typing import Any

#: Seconds between two looks of a waiter (``deploy --wait``, ``Cluster.wait_running``):
#: each is one or two requests, and a run must last :data:`STEADY` anyway.
POLL = 0.5

#: Seconds a replica's run must last, seen at two looks, before a wait counts it: a run
#: that fails at once is reported ended well within this.
STEADY = 1.0


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
    roll = deployment.get("rollout")
    if isinstance(roll, Mapping) and roll.get("state") in ("paused", "reverting"):
        # The roll failed: it goes back to the last good version, or waits for a change.
        why = roll.get("reason") or f"roll {roll.get('state')}"
        return f"failed: {why}", running, wanted, "failed"
    ended = [i for i in instances if (i.get("updated_at") or 0) >= since]
    if deployment.get("state") == "exited" and not live and ended:
        return _ended(ended, wanted)
    if isinstance(roll, Mapping) and roll.get("state") == "canary":
        # Its canaries are healthy and wait for a human's promote: a wait can go no
        # further (the Conductor judged their health before it set this state).
        text += f" (canary: {roll.get('new')} new, {roll.get('old')} old)"
        return f"{text}: canaries await `symphony promote`", running, wanted, "done"
    if isinstance(roll, Mapping):
        # Until the roll is done, every replica may run while old ones are still to go.
        text += f" (rolling: {roll.get('new')} new, {roll.get('old')} old)"
    up = running == wanted and len(live) == wanted and not unhealthy and not roll
    return text, running, wanted, "up" if up else None


def _not_healthy(deployment: dict[str, Any], live: list[dict[str, Any]]) -> int:
    """How many running instances their own version's health check has not found
    healthy (yet), as a rolling update judges them. One of the version the deployment
    runs (or rolls to) is judged by the spec's check: with one, it counts once healthy.
    One of another version (an old one a roll replaces) is judged by what its check
    said, if it has one: the JSON does not carry that version's spec, and an old one
    whose version has no check (a roll that adds one) is healthy once running."""
    spec = deployment.get("spec")
    checked = isinstance(spec, Mapping) and spec.get("health_check") is not None
    current = deployment.get("version")

    def not_healthy(inst: dict[str, Any]) -> bool:
        if inst.get("state") != "running":
            return False
        if inst.get("version", current) == current:
            return checked and inst.get("health") != "healthy"
        return inst.get("health") == "unhealthy"

    return sum(1 for i in live if not_healthy(i))


def _failed(inst: dict[str, Any]) -> bool:
    return inst.get("signal") is not None or inst.get("exit_code") not in (None, 0)


def _how(inst: dict[str, Any]) -> str:
    signal, code = inst.get("signal"), inst.get("exit_code")
    how = f"was killed by {signal_name(signal)}" if signal else f"exited with code {code}"
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


def runs(deployment: dict[str, Any]) -> set[tuple[Any, ...]]:
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


def signal_name(signal: Any) -> str:
    """``SIGKILL`` for 9 (or the name the API gave)."""
    if isinstance(signal, int):
        import signal as signals

        try:
            return signals.Signals(signal).name
        except ValueError:
            return f"signal {signal}"
    return str(signal)


class Steady:
    """Which runs have lasted :data:`STEADY` seconds: feed it the runs of each look at
    which everything wanted runs (:func:`runs`), and :meth:`reset` it at one that does
    not; a run that drops out of a look starts over when it comes back."""

    def __init__(self) -> None:
        self._first_seen: dict[Hashable, float] = {}

    def lasted(self, runs: set[Any], now: float) -> bool:
        """Whether every one of ``runs`` was first seen at least :data:`STEADY` before
        ``now`` (a monotonic time)."""
        self._first_seen = {run: self._first_seen.get(run, now) for run in runs}
        return all(now - seen >= STEADY for seen in self._first_seen.values())

    def reset(self) -> None:
        self._first_seen = {}
