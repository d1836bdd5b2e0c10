"""The rolling-update planner: a pure function from what runs now to the next step.

Given the deployment's live instances split into *new* ones (the version it rolls to)
and *old* ones (any other version), their health and ages, and the ``update`` policy,
:func:`plan_roll` says which old instances to stop, how many new ones to start, whether
the roll failed (and why), whether it waits for a promote, and when to look again. The
DeploymentSupervisor applies the step (see :mod:`.roll`); nothing here does I/O or reads
a clock, so every rule is tested with plain numbers.

The rules, for ``replicas`` wanted and the policy ``max_parallel``, ``max_surge``,
``min_healthy_seconds``, ``healthy_deadline_seconds``, ``canary``:

- never more than ``replicas + max_surge`` instances (stopping ones count: they still
  hold their capacity), and at most ``max_parallel`` new ones not yet healthy;
- a new instance is healthy once running (and passing its check) for
  ``min_healthy_seconds``; one not healthy ``healthy_deadline_seconds`` after it was
  created fails the roll;
- old instances stop only as new ones become healthy, so that old plus healthy new
  instances never drop below ``replicas``, except for *one down, one up*: when no new
  instance can start (no surge allowed, or the surge waits for room on the nodes) and
  none is on its way, one old instance stops to make room;
- with ``canary: N`` (and no promote yet) N new instances start beside ``replicas`` old
  ones, then the roll waits; old ones beyond ``replicas`` (the canaries of a roll this
  one superseded) stop, those of a version that never proved itself first, so that the
  new canaries take their place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from symphony.spec import UpdatePolicy


@dataclass(frozen=True, slots=True)
class Member:
    """One live instance as the planner sees it.

    ``healthy_since``: when it was first seen running and passing its check, without a
    break since (None: not so now); ``created``: when it was created (or first seen as
    one of the version rolled to: see roll.py, an earlier roll's time may stand);
    ``stopping``: told to stop already; ``waiting_for_room``: not placed because no
    node has room now; ``state``: for the failure message; ``stray`` (old ones only):
    of a version that is not good (a superseded roll's), not of the one the roll
    replaces.
    """

    id: str
    replica: int
    created: float
    healthy_since: float | None = None
    stopping: bool = False
    waiting_for_room: bool = False
    state: str = "running"
    stray: bool = False


@dataclass(frozen=True, slots=True)
class RollStep:
    """What to do now: stop ``stop`` (old instance ids), start ``start`` new instances.

    ``failure`` says why the roll failed (then nothing else is done); ``waiting`` says
    what it waits for (a promote); ``done`` is True once only healthy new instances are
    left; ``wake_at`` is when the planner must run again even if nothing is reported
    (an instance becomes healthy enough, or reaches its deadline).
    """

    stop: tuple[str, ...] = ()
    start: int = 0
    failure: str | None = None
    waiting: str | None = None
    done: bool = False
    wake_at: float | None = None


def _stop_order(member: Member) -> tuple[bool, float, int]:
    # Instances that serve nothing (not healthy) go first, then the ones healthy for the
    # shortest time (a superseded roll's), then the highest replicas.
    since = member.healthy_since
    return (since is not None, -(since or 0.0), -member.replica)


def plan_roll(
    *,
    replicas: int,
    policy: UpdatePolicy,
    new: Sequence[Member],
    old: Sequence[Member],
    now: float,
    promoted: bool = False,
) -> RollStep:
    """The next step of a roll to the new version (see the module docstring)."""
    healthy: list[Member] = []
    unhealthy: list[Member] = []
    wake: list[float] = []
    for member in new:
        if member.stopping:
            continue
        since = member.healthy_since
        # Compared as the wake-up time is computed (``since + min``), so that waking
        # at that time always finds it healthy (``now - since`` may round below).
        if since is not None and now >= since + policy.min_healthy_seconds:
            healthy.append(member)
            continue
        deadline = member.created + policy.healthy_deadline_seconds
        if now >= deadline:
            return RollStep(failure=_late(member, policy))
        unhealthy.append(member)
        wake.append(deadline)
        if since is not None:
            wake.append(since + policy.min_healthy_seconds)
    wake_at = min(wake) if wake else None
    serving = [m for m in old if not m.stopping]
    total = len(new) + len(old)  # stopping ones still hold their capacity

    canaries = policy.canary > 0 and not promoted
    if canaries:
        wanted_new = min(policy.canary, replicas)
        cap = replicas + wanted_new
    else:
        wanted_new = replicas
        cap = replicas + policy.max_surge
    active = len(healthy) + len(unhealthy)
    start = max(0, min(policy.max_parallel - len(unhealthy), cap - total, wanted_new - active))

    stops: list[Member] = []
    if canaries:
        # Canaries run beside ``replicas`` old ones: more (a superseded roll's canaries)
        # would hold the new canaries' room for ever.
        extra = len(serving) - replicas
        stops = sorted(serving, key=lambda m: (not m.stray, *_stop_order(m)))[: max(0, extra)]
    else:
        # Old ones stop as healthy new ones take their place (strays first: a good
        # version's instances are what a revert would keep).
        extra = len(serving) + len(healthy) - replicas
        stops = sorted(serving, key=lambda m: (not m.stray, *_stop_order(m)))[: max(0, extra)]
        in_flight = [m for m in unhealthy if not m.waiting_for_room]
        blocked = start == 0 and active < wanted_new
        waiting_for_room = any(m.waiting_for_room for m in unhealthy)
        quiet = not in_flight and not any(m.stopping for m in old)
        if not stops and serving and quiet and (blocked or waiting_for_room):
            stops = sorted(serving, key=_stop_order)[:1]  # one down, one up
    done = not canaries and len(healthy) == replicas and len(serving) == len(stops)
    waiting = None
    if canaries and len(healthy) >= wanted_new:
        waiting = f"{len(healthy)} canary instance(s) healthy: waiting for a promote"
    return RollStep(
        stop=tuple(m.id for m in stops),
        start=start,
        waiting=waiting,
        done=done,
        wake_at=None if done else wake_at,
    )


def plan_unrolled(
    *, replicas: int, policy: UpdatePolicy, new: Sequence[Member], now: float
) -> RollStep:
    """A new version with nothing of another version left to replace: every replica
    starts at once, and the version is good once ``replicas`` of them have been healthy
    for ``min_healthy_seconds``; one not healthy ``healthy_deadline_seconds`` after it was
    created fails it, as in a roll."""
    healthy = 0
    wake: list[float] = []
    for member in new:
        if member.stopping:
            continue
        since = member.healthy_since
        if since is not None and now >= since + policy.min_healthy_seconds:
            healthy += 1
            continue
        deadline = member.created + policy.healthy_deadline_seconds
        if now >= deadline:
            return RollStep(failure=_late(member, policy))
        wake.append(deadline)
        if since is not None:
            wake.append(since + policy.min_healthy_seconds)
    done = healthy >= replicas
    return RollStep(start=replicas, done=done, wake_at=None if done or not wake else min(wake))


def _late(member: Member, policy: UpdatePolicy) -> str:
    return (
        f"instance {member.id} was not healthy within "
        f"{policy.healthy_deadline_seconds:g} s (it is {member.state})"
    )
