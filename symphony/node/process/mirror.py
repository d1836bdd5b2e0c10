"""The agent's side of restarts decided by the monitor: what it sends, what it mirrors.

With every spawn of an ``exec`` job the agent hands the monitor the instance's restart
rule and its state (:func:`restart_plan`); when the run ends on its own, the monitor
decides (and, without a delay, has already started the next run) and says so in the
run's end record. :func:`mirrored` turns that record into what the agent's
:class:`~.supervisor.ProcessSupervisor` does next, after taking over the rule's state,
so the two never count a restart twice or miss one.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from symphony.wire import JobSpec

from ..container import CONTAINER_KINDS
from .restart import Decision, RestartTracker, policy_fields


@dataclass(frozen=True, slots=True)
class Mirrored:
    """The monitor's decision for a run that ended, and what it started after it."""

    decision: Decision
    #: The run the monitor started at once (its record), or None.
    successor: dict[str, Any] | None = None
    #: Why the monitor could not start the next run ("spawn error: ..."), or None.
    spawn_error: str | None = None


def restart_plan(spec: JobSpec, tracker: RestartTracker, *, jitter: float, now: float) -> Any:
    """The ``restart`` field of a spawn request (None: the agent decides every restart).

    A container job's runs are restarted by the agent: its runtime's client is the
    job's process, and each run is prepared (an image, a container name) anew.
    """
    if spec.kind in CONTAINER_KINDS:
        return None
    return {
        "policy": policy_fields(spec.restart_policy),
        "jitter": jitter,
        "state": tracker.export(now),
    }


def mirrored(ended: Mapping[str, Any], tracker: RestartTracker, *, now: float) -> Mirrored | None:
    """What the monitor decided for the run ``ended`` (None: it decided nothing, the
    agent decides), with ``tracker`` brought to the monitor's state."""
    record = ended.get("decision")
    if not isinstance(record, Mapping):
        return None
    try:
        decision = Decision.from_public(record)
    except ValueError:
        return None
    tracker.load(record.get("restarts"), now)
    successor = record.get("next")
    error = record.get("spawn_error")
    return Mirrored(
        decision=decision,
        successor=dict(successor) if isinstance(successor, Mapping) else None,
        spawn_error=f"spawn error: {error}" if isinstance(error, str) else None,
    )


def adopt_state(run: Mapping[str, Any], tracker: RestartTracker, *, now: float) -> None:
    """A run the monitor started itself records the rule's state it started with: an
    agent that adopts the run continues from there (its own record may be older)."""
    meta = run.get("meta")
    if isinstance(meta, Mapping) and "restarts" in meta:
        tracker.load(meta["restarts"], now)
