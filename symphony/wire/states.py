"""The states of instances and deployments, and the one place that says what they mean.

Every part that asks "is this instance still alive?" imports the answer from here: the
Conductor's deployment actors and store, the HTTP API, and (through ``GET /states``)
the web UI. The enums are ``str`` enums, so stored values, JSON and msgpack carry the
same plain strings as before (``InstanceState.RUNNING == "running"``).

An instance's life (the Conductor's view; a node reports the middle part)::

    pending -> assigned -> starting -> running -> exited          (its policy is done)
                              ^           |  \\-> failed          (restart budget spent)
                              |           v
                              +----- restarting                   (waiting out its backoff)
    any live state -> stopping -> stopped;  any placed state -> lost (its node is gone)

Three questions, three predicates (a state's answers are fixed by the tables below,
and a test fails when a state is added without a decision for each):

- :func:`is_live`: the instance has not ended for good. A Conductor record is live
  exactly while its ``finished_at`` is unset. The opposite is :func:`is_final`.
- :func:`holds_capacity`: placed on a node and live, so it holds a reservation
  there and (unless it is between runs) a process: the instances a node "runs", and
  the ones whose logs are worth showing first. ``pending`` is live but holds nothing.
- :func:`is_final`: it ended for good (``exited``, ``failed``, ``stopped``, ``lost``):
  nothing will run it again unless a new instance is made.

On the wire a node also says ``exited`` for a run that ended when a restart may still
follow (``final`` is false): the Conductor records that as ``restarting``, so that
its ``exited`` always means "ended for good" and a state alone answers each question.
"""

from __future__ import annotations

import enum

__all__ = [
    "FINAL_STATES",
    "LIVE_STATES",
    "PLACED_STATES",
    "DeploymentState",
    "InstanceState",
    "holds_capacity",
    "is_final",
    "is_live",
    "state_lists",
]


class InstanceState(enum.StrEnum):
    """One instance's state (see the module docstring for the lifecycle)."""

    PENDING = "pending"  # no node fits yet; ``reason`` says why
    ASSIGNED = "assigned"  # placed: capacity reserved, the node told to start it
    STARTING = "starting"  # the node is spawning its process
    RUNNING = "running"
    RESTARTING = "restarting"  # a run ended; the node restarts it at ``restart_at``
    EXITED = "exited"  # ended for good: its restart policy wants no more runs
    FAILED = "failed"  # ended for good: restart budget spent, or it could not start
    STOPPING = "stopping"  # told to stop; capacity is held until the node confirms
    STOPPED = "stopped"
    LOST = "lost"  # its node was gone past the node timeout


class DeploymentState(enum.StrEnum):
    """A deployment's summary state (derived from its instances by the API)."""

    PENDING = "pending"  # a replica waits for a node (or for its reschedule delay)
    STARTING = "starting"  # fewer replicas run than desired, and some are on their way
    CRASHING = "crashing"  # fewer run than desired, and a replica's last run failed: it
    # waits out its restart backoff or starts again (a crash loop; see its instances)
    RUNNING = "running"  # every desired replica runs
    STOPPING = "stopping"
    STOPPED = "stopped"
    EXITED = "exited"  # its instances finished their work
    FAILED = "failed"  # it gave up (reschedule attempts spent); see ``failure``


S = InstanceState
#: Not ended for good: a live Conductor record has no ``finished_at``.
LIVE_STATES: frozenset[InstanceState] = frozenset(
    {S.PENDING, S.ASSIGNED, S.STARTING, S.RUNNING, S.RESTARTING, S.STOPPING}
)
#: Ended for good: no process, no capacity, never runs again.
FINAL_STATES: frozenset[InstanceState] = frozenset({S.EXITED, S.FAILED, S.STOPPED, S.LOST})
#: Live and placed on a node: it holds capacity there (see :func:`holds_capacity`).
PLACED_STATES: frozenset[InstanceState] = LIVE_STATES - {S.PENDING}


def is_live(state: str) -> bool:
    """Whether an instance in ``state`` has not ended for good.

    >>> is_live("restarting"), is_live("exited")
    (True, False)
    """
    return state in LIVE_STATES


def is_final(state: str) -> bool:
    """Whether an instance in ``state`` has ended for good (an unknown state is not)."""
    return state in FINAL_STATES


def holds_capacity(state: str) -> bool:
    """Whether an instance in ``state`` is placed on a node and live (so it holds its
    reservation there): ``assigned`` up to the confirmed end of ``stopping``."""
    return state in PLACED_STATES


def state_lists() -> dict[str, dict[str, list[str]]]:
    """Every state and each predicate's answer, as ``GET /states`` serves them to the UI."""
    order = list(InstanceState)
    return {
        "instance": {
            "states": [s.value for s in order],
            "live": [s.value for s in order if s in LIVE_STATES],
            "placed": [s.value for s in order if s in PLACED_STATES],
            "final": [s.value for s in order if s in FINAL_STATES],
        },
        "deployment": {"states": [s.value for s in DeploymentState]},
    }


class ExperimentState(enum.StrEnum):
    """An experiment's summary state (derived from its processes by the API)."""

    PENDING = "pending"  # no process placed yet: the whole experiment waits (``reason``)
    RUNNING = "running"  # every process runs
    DEGRADED = "degraded"  # some processes do not run (``reason`` names them)
    STOPPED = "stopped"  # desired state stopped (``reason`` while processes still stop)
    FAILED = "failed"  # a process gave up (its reschedule attempts are spent)


__all__ += ["ExperimentState"]
