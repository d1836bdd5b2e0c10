"""The actor side of a rolling update: feeds :func:`.rollout.plan_roll` and records
what the roll did (see :mod:`.rollout` for the rules).

A :class:`RollDriver` belongs to one DeploymentSupervisor and is used only while that
actor handles a message. It remembers, in the actor's Trio clock, since when each live
instance has been running healthy by its own version's health check, and when each
instance of the version rolled to was first seen as one, the start of its deadline.
That time stays while the roll (or the rolls that supersede it) goes on, until one
fails: an old instance kept at a revert or a rollback was not new before, so its
deadline starts then, and an instance of a version a PATCH goes back to keeps the time
it was first seen while it still runs (PATCHes flipping between broken versions whose
instances outlive the flips do not restart a deadline, and fail as one roll would). A
failure clears them, no time is taken while a roll is paused, and a roll back to a
version that proved good (a rollback, a revert) starts its instances' deadlines anew:
what such a roll keeps has its whole deadline. These times do not survive a restart
of the actor: the instances then prove their health again, which only makes a roll
more careful. It writes the roll's progress to the store: the deployment's
``roll_state`` (rolling, canary, promoted, reverting, paused) and each version's
status (good, failed and why), and goes back to the last good version when a roll
fails with ``auto_revert``.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import trio

from symphony.actors import ActorRef, ActorStopped
from symphony.spec import DeploymentSpec, SpecError, parse_spec
from symphony.wire.states import InstanceState as S
from symphony.wire.states import is_live

from ..store import (
    KEEP_VERSIONS,
    DeploymentRecord,
    GenerationConflict,
    InstanceRecord,
    Store,
    VersionRecord,
)
from .instances import NON_TEMPLATE_FIELDS, template
from .messages import RollTick
from .rollout import Member, RollStep, plan_roll, plan_unrolled

ROLLING, CANARY, PROMOTED, REVERTING, PAUSED = (
    "rolling",
    "canary",
    "promoted",
    "reverting",
    "paused",
)
#: Roll states in which canaries no longer wait (promoted, or going back).
_PAST_CANARIES = frozenset({PROMOTED, REVERTING})
#: What the Scheduler says of an instance merely queued (not a lack of room).
_QUEUED = "waiting for a node"
#: How the roll reason of a rolling restart begins (see :mod:`.restarting`).
RESTART_REASON = "rolling restart of version"


@dataclass
class RollOutcome:
    """What the supervisor does with one step: stop ``stops``, start at most ``start``
    new instances, note ``events``; with ``reverted`` the deployment record changed to
    the last good version (the supervisor carries its instances over and reconciles)."""

    record: DeploymentRecord
    stops: list[tuple[InstanceRecord, str]] = field(default_factory=list)
    start: int = 0
    events: list[tuple[str, str]] = field(default_factory=list)
    reverted: bool = False


def with_template(current: DeploymentSpec, source: DeploymentSpec) -> DeploymentSpec:
    """``current`` with the template (what shapes the processes) of ``source``: how many
    replicas, whether running, the update policy and the name stay as they are. Each
    part is taken as stored (the policy from ``current``, the health check and capacity
    requests from ``source``): a revert must not fail on a rule added since it was
    accepted."""
    data = {**source.to_dict()}
    kept = current.to_dict()
    data.update({k: kept[k] for k in NON_TEMPLATE_FIELDS if k in kept})
    return parse_spec(data, previous=[current, source])


def last_good(versions: list[VersionRecord], current: int) -> VersionRecord | None:
    """The most recently used good version other than ``current``."""
    return next((v for v in versions if v.version != current and v.status == "good"), None)


def _healthy(inst: InstanceRecord, checked: bool) -> bool:
    """Whether ``inst`` serves now: running, and passing its check if its version has
    one (``checked``). Judged by its own version, not the one rolled to: an instance of
    a version without a check is healthy once running, even while a version that adds
    one rolls (else going back to its version found it "not healthy in time")."""
    return inst.state == S.RUNNING and (not checked or inst.health == "healthy")


class RollDriver:
    """See the module docstring."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._created: dict[str, float] = {}
        self._healthy_since: dict[str, float] = {}
        self._versions: dict[int, VersionRecord | None] = {}  # during a roll: see _kept
        self._tick_at = math.inf  # when the last step said to look again
        self._armed = math.inf  # the earliest tick on its way
        self._ended: str | None = None  # why a new instance ended for good, if one did
        # A failure a newer change kept from being written: (generation it failed
        # under, version, why); see :meth:`_failed`. Held in memory only (lost with a
        # restart of this actor: the roll then goes on to its health deadline). The
        # first step this driver plans looks in the store for a failure written
        # under the roll's own generation but not acted on (:meth:`_stored`).
        self._unwritten: tuple[int, int, str] | None = None
        self._looked = False  # whether the store was read for a failure left waiting
        # Whether the next observation starts the deadlines of the version rolled to
        # anew (a roll back to a good version: see new_roll).
        self._anew = False

    def observe(self, record: DeploymentRecord, instances: Mapping[str, InstanceRecord]) -> None:
        """Note first sightings and health changes while a roll is under way (every
        reconcile calls this: without a roll it costs nothing, which matters to a
        deployment of thousands of replicas being scaled)."""
        if record.roll_state is None:
            self._created.clear()
            self._healthy_since.clear()
            self._versions.clear()
            self._ended = None
            self._unwritten = None
            return
        now = trio.current_time()
        live = {i.id: i for i in instances.values() if is_live(i.state)}
        for gone in [i for i in self._healthy_since if i not in live]:
            del self._healthy_since[gone]
        for gone in [i for i in self._created if i not in live]:
            del self._created[gone]
            ended = instances.get(gone)
            if (
                ended is not None
                and ended.generation == record.generation
                and ended.state in (S.EXITED, S.FAILED)
                and record.roll_state != PAUSED
            ):
                # A new instance that ended for good will never be healthy.
                self._ended = self._ended or _how_ended(ended)
        timing = record.roll_state != PAUSED  # a pause judges nothing: no deadline runs
        anew = self._anew and timing  # kept for the first observation after a pause
        if timing:
            self._anew = False
        for inst in live.values():
            if timing and inst.version == record.version:
                # A deadline runs only for an instance of the version rolled to, from
                # when it was first seen as one: one kept at a revert was never new in
                # the roll before, so it has the whole deadline from the revert; one a
                # PATCH made new again (back to its version) keeps its first time, or
                # PATCHes flipping between two broken versions would never fail a roll;
                # but a roll back to a good version starts them anew (see new_roll).
                if anew:
                    self._created[inst.id] = now
                else:
                    self._created.setdefault(inst.id, now)
            if _healthy(inst, self._checked(record, inst.version)):
                self._healthy_since.setdefault(inst.id, now)
            else:
                self._healthy_since.pop(inst.id, None)

    def new_roll(self, record: DeploymentRecord) -> None:
        """A change that starts a roll of a version (``record``) was told: a failure
        still waiting (see :meth:`_failed`) was the roll's before it, even if this one
        rolls the same version again (a rollback to it), so it is dropped. (Its
        version's status was not written either: only under its own generation.) The
        kept versions are read again: their statuses changed (the one superseded), and a
        version number may be used again (one forgotten, then made anew) for another
        template. The first-seen times stay (see :meth:`observe`), but not for a
        version that proved good: a rollback or a revert to it gives its instances the
        whole deadline, whatever an earlier roll of it saw (an instance restarted by its
        check since would otherwise fail it at once)."""
        self._unwritten = None
        self._versions.clear()
        target = self._kept(record, record.version)
        self._anew = target is not None and target.status == "good"

    def _checked(self, record: DeploymentRecord, version: int) -> bool:
        """Whether ``version`` of the deployment has a health check: the current one's
        spec says; another's the kept versions say (see :meth:`_kept`). One no longer
        kept counts as checked: only a check that passed makes it healthy (it is an old
        one: that only orders its stop)."""
        if version == record.version:
            return record.spec.health_check is not None
        kept = self._kept(record, version)
        return kept is None or kept.spec.health_check is not None

    def _stray(self, record: DeploymentRecord, version: int) -> bool:
        """Whether an instance of ``version`` is a stray of the roll to ``record``'s:
        of a kept version that is not good (a superseded roll's canary, say), which
        goes before the good version's instances when surplus ones stop."""
        if version == record.version:
            return False
        kept = self._kept(record, version)
        return kept is not None and kept.status != "good"

    def _kept(self, record: DeploymentRecord, version: int) -> VersionRecord | None:
        """Kept ``version`` (None: not kept), read from the store once per roll: a
        template never changes, and an old version's status does not while the roll
        goes on (a change starts a new roll, which reads them again)."""
        if version not in self._versions:
            for kept in self.store.list_versions(record.id):
                self._versions[kept.version] = kept
        return self._versions.setdefault(version, None)

    def plan(
        self, record: DeploymentRecord, instances: Mapping[str, InstanceRecord], wanted: int
    ) -> RollOutcome | None:
        """The roll's next step, or None when no roll is under way (then every instance
        of an older generation is simply replaced)."""
        if self._unwritten is not None and self._unwritten[1] != record.version:
            self._unwritten = None  # the newer change rolls another version: it supersedes
        if record.roll_state is None or wanted == 0:
            return None
        if record.roll_state == PAUSED:
            return RollOutcome(record)  # nothing moves until the next change
        if (stored := self._stored(record)) is not None:
            return self._failed(record, stored)
        if self._unwritten is not None:
            generation, _, why = self._unwritten
            self._ended = None  # the roll failed already: what ended since adds nothing
            if generation == record.generation:
                return RollOutcome(record)  # nothing moves until the newer change is told
            self._unwritten = None
            return self._failed(record, why)  # under the newer change, keeping its settings
        now = trio.current_time()
        new: list[Member] = []
        old: list[Member] = []
        by_id: dict[str, InstanceRecord] = {}
        for inst in instances.values():
            if not is_live(inst.state):
                continue
            by_id[inst.id] = inst
            current = inst.generation == record.generation
            member = Member(
                id=inst.id,
                replica=inst.replica,
                created=self._created.get(inst.id, now),
                healthy_since=self._healthy_since.get(inst.id),
                stopping=inst.state == S.STOPPING or (not current and inst.replica >= wanted),
                waiting_for_room=inst.state == S.PENDING and inst.reason not in (None, _QUEUED),
                state=f"{inst.state}" + (f": {inst.reason}" if inst.reason else ""),
                stray=not current and self._stray(record, inst.version),
            )
            (new if current else old).append(member)
        if not old:
            return self._unrolled(record, instances, new, wanted, now)
        step = plan_roll(
            replicas=wanted,
            policy=record.spec.update,
            new=new,
            old=old,
            now=now,
            promoted=record.roll_state in _PAST_CANARIES,
        )
        failure, self._ended = step.failure or self._ended, None
        if failure is not None:
            return self._failed(record, failure)
        outcome = RollOutcome(record, start=step.start)
        reverting = record.roll_state == REVERTING  # back to a version: a stop, not a swap
        reason = f"{'reverted to' if reverting else 'replaced by'} version {record.version}"
        outcome.stops = [(by_id[i], reason) for i in step.stop]
        self._progress(outcome, step, wanted)
        return outcome

    def _stored(self, record: DeploymentRecord) -> str | None:
        """Why the version rolling failed, if the store says it did, on the first step
        this driver plans (None after it): the version's status is written first, the
        revert or the pause after it, and a failure a newer change kept from being
        written waits in this driver's memory. An actor restarted in between (or a
        Conductor) would otherwise roll the failed version on, starting more of it."""
        if self._looked:
            return None
        self._looked = True
        versions = self.store.list_versions(record.id)
        mine = next((v for v in versions if v.version == record.version), None)
        if mine is None or mine.status != "failed":
            return None
        return mine.reason or "failed before a restart"

    def _unrolled(
        self,
        record: DeploymentRecord,
        instances: Mapping[str, InstanceRecord],
        new: list[Member],
        wanted: int,
        now: float,
    ) -> RollOutcome:
        """Nothing of another version runs (the deployment was stopped, or the old
        instances ended): nothing to roll, the new ones start together, and prove their
        health as in a roll before the version is good.

        With none of them live, the store's instances of this generation judge it (not
        what this driver saw, which a Conductor's restart forgets): one that failed, or
        exited non-zero or by a signal, fails the version; ones that all exited with
        code 0 (a job that finishes) leave nothing to prove, the version is good.
        Neither (none ended yet, or only lost or stopped ones): the new ones start."""
        self._ended = None  # judged by the deadline here, with the live ones
        if not any(not m.stopping for m in new):
            ended = [
                i
                for i in instances.values()
                if i.generation == record.generation and i.state in (S.EXITED, S.FAILED)
            ]
            failed = next((i for i in ended if _failed_run(i)), None)
            if failed is not None:
                return self._failed(record, _how_ended(failed))
            if ended:
                self._finish(record)  # a job that finished: no event to tell
                return RollOutcome(_done(record), start=wanted)
        step = plan_unrolled(replicas=wanted, policy=record.spec.update, new=new, now=now)
        if step.failure is not None:
            return self._failed(record, step.failure)
        outcome = RollOutcome(record, start=step.start)
        self._progress(outcome, step, wanted)
        return outcome

    def _progress(self, outcome: RollOutcome, step: RollStep, wanted: int) -> None:
        record = outcome.record
        if step.done:
            outcome.record = _done(record)
            # Not written: a newer change was stored, whose roll (told next) tells the end.
            if self._finish(record):
                outcome.events.append(_end_event(record, wanted))
        elif step.waiting is not None and record.roll_state != CANARY:
            self._canaries(outcome, step.waiting)
        self._tick_at = step.wake_at if step.wake_at is not None else math.inf

    def _canaries(self, outcome: RollOutcome, waiting: str) -> None:
        """The roll waits on its canaries (``waiting`` says how), unless a newer change
        was stored meanwhile: that one is told next, and decides."""
        record = outcome.record
        if self.store.set_roll(record.id, CANARY, waiting, generation=record.generation):
            self.store.set_version_status(record.id, record.version, CANARY)
            outcome.record = replace(record, roll_state=CANARY, roll_reason=waiting)
            outcome.events.append(("canary", f"version {record.version}: {waiting}"))

    def _finish(self, record: DeploymentRecord) -> bool:
        """The roll is done (one store transaction): the version is good, the kept
        copies of a template another kept version stands for are forgotten (after a
        rolling restart, the version restarted; after a restart reverted, its failed
        copy), then those beyond the kept number. A restart's version was added
        without pruning, so restarts (a nightly ``restart_schedule``) never push the
        earlier templates out of the kept ones, and a rollback goes back to another
        template, not to a copy of this one.

        False when not written: a newer change was stored meanwhile, whose roll state
        (this version's roll, or another's) is the one that counts; it is told next."""
        forget = copies(self.store.list_versions(record.id), record)
        return self.store.finish_roll(
            record.id, record.version, forget, generation=record.generation
        )

    def _failed(self, record: DeploymentRecord, why: str) -> RollOutcome:
        """Go back to the last good version (``auto_revert``), else pause.

        Neither is written if a newer change was stored meanwhile (the manager answers
        the API before telling this actor): going back would overwrite it, and a pause
        would not be that change's. The failure waits, and nothing moves, until that
        change is told; then, if it still rolls this version (a change of its settings
        only: replicas, say), the revert or the pause happens under it, keeping what it
        set; if it rolls another version, that roll supersedes this failed one."""
        # Only under the generation the roll failed under: else a newer change waits to
        # be told (see above), and a restart must not read this as that change's failure.
        if not self.store.set_version_status(
            record.id, record.version, "failed", why, generation=record.generation
        ):
            return self._unwritten_failure(record, why)
        # The verdict is given: the roll that follows (the revert, or the next change
        # after a pause, even a rollback naming this version) gives every instance it
        # keeps the whole deadline. Only rolls that no failure ends keep the times.
        self._created.clear()
        failure = why  # what waits, if it must: the refusal below is said again then
        good = last_good(self.store.list_versions(record.id), record.version)
        if record.spec.update.auto_revert and good is not None:
            try:
                spec = with_template(record.spec, good.spec)
            except SpecError as error:  # a rule added since refuses that old template
                why = f"{why}; version {good.version} is refused now ({error})"
            else:
                reason = (
                    f"version {record.version} failed: {why}; reverting to version {good.version}"
                )
                try:
                    updated = self.store.update_deployment(
                        record.id,
                        spec,
                        expected_generation=record.generation,
                        version=good.version,
                        roll_state=REVERTING,
                        roll_reason=reason,
                        keep=kept_during(record),
                    )
                except GenerationConflict:
                    return self._unwritten_failure(record, why)
                return RollOutcome(updated, events=[("reverted", reason)], reverted=True)
        without = "" if good is not None else " (no good version to go back to)"
        reason = f"version {record.version} failed: {why}{without}"
        if not self.store.set_roll(record.id, PAUSED, reason, generation=record.generation):
            return self._unwritten_failure(record, failure)
        paused = replace(record, roll_state=PAUSED, roll_reason=reason)
        return RollOutcome(paused, events=[("paused", f"roll paused: {reason}")])

    def _unwritten_failure(self, record: DeploymentRecord, why: str) -> RollOutcome:
        """See :meth:`_failed`: the failure waits for the newer change."""
        self._unwritten = (record.generation, record.version, why)
        return RollOutcome(record)

    def promote(self, record: DeploymentRecord) -> DeploymentRecord | str:
        """Let a roll waiting on its canaries go on; a string says why it cannot."""
        if record.roll_state not in (ROLLING, CANARY) or record.spec.update.canary == 0:
            return f"deployment {record.name} has no canaries waiting for a promote"
        if not self.store.set_roll(record.id, PROMOTED, generation=record.generation):
            return f"deployment {record.name} changed meanwhile: promote it again"
        self.store.set_version_status(record.id, record.version, ROLLING)
        return replace(record, roll_state=PROMOTED, roll_reason=None)

    def start_timer(self, nursery: trio.Nursery, ref: ActorRef) -> None:
        """Wake the actor when the last step said it must look again (one tick on its
        way at a time: an earlier one replans and arms the next)."""
        at, self._tick_at = self._tick_at, math.inf  # each step's wish is used once
        if at < self._armed:
            self._armed = at
            nursery.start_soon(_tick, ref, at)

    def ticked(self) -> None:
        """A tick arrived: the next step may arm another."""
        self._armed = math.inf


async def _tick(ref: ActorRef, at: float) -> None:
    await trio.sleep_until(at)
    with contextlib.suppress(ActorStopped):  # stopped meanwhile: nothing to wake
        await ref.tell(RollTick())


def vacant_first(replicas: list[int], instances: Iterable[InstanceRecord]) -> list[int]:
    """``replicas`` with those that nothing serves first (their old instance stopped, or
    is stopping), so that "one down, one up" starts the replica it took down rather than
    a second copy of one whose old instance still serves."""
    serving = {i.replica for i in instances if is_live(i.state) and i.state != S.STOPPING}
    return sorted(replicas, key=lambda r: (r in serving, r))


def roll_view(record: DeploymentRecord, instances: list[InstanceRecord]) -> dict[str, Any] | None:
    """The roll under way as the API shows it (None when there is none)."""
    if record.roll_state is None:
        return None
    live = [i for i in instances if is_live(i.state) and i.state != S.STOPPING]
    new = [i for i in live if i.version == record.version]
    return {
        "state": record.roll_state,
        "reason": record.roll_reason,
        "version": record.version,
        "old": len(live) - len(new),
        "new": len(new),
        "new_healthy": sum(1 for i in new if _healthy(i, record.spec.health_check is not None)),
    }


def kept_during(record: DeploymentRecord) -> int:
    """How many versions a change of ``record`` keeps: :data:`KEEP_VERSIONS`, and
    while a rolling restart runs, its version too (its roll's end forgets a copy)."""
    return KEEP_VERSIONS + 1 if _restart(record) else KEEP_VERSIONS


def copies(versions: list[VersionRecord], record: DeploymentRecord) -> list[int]:
    """The kept versions (most recently current first) whose template the current one
    or another kept version has: copies a rolling restart made. Of the copies of one
    template the good one stays (else the most recently current), so a failed restart's
    copy never outlives the good version a rollback goes back to."""
    seen: list[tuple[dict[str, Any], VersionRecord | None]] = [(template(record.spec), None)]
    found: list[int] = []
    for v in versions:
        if v.version == record.version:
            continue
        mine = template(v.spec)
        at = next((i for i, (t, _) in enumerate(seen) if t == mine), None)
        if at is None:
            seen.append((mine, v))
            continue
        kept = seen[at][1]
        if kept is not None and kept.status != "good" and v.status == "good":
            found.append(kept.version)  # the good one stands for the template
            seen[at] = (mine, v)
        else:
            found.append(v.version)
    return found


def _done(record: DeploymentRecord) -> DeploymentRecord:
    """``record`` with its roll done (written or not: see :meth:`RollDriver._finish`)."""
    return replace(record, roll_state=None, roll_reason=None)


def _end_event(record: DeploymentRecord, wanted: int) -> tuple[str, str]:
    """The event that says ``record``'s roll ended well, with ``wanted`` instances."""
    if _restart(record):
        text = f"rolling restart done: {wanted} healthy instance(s) of version "
        return ("restarted", f"{text}{record.version}")
    done = (
        f"back to version {record.version}"
        if record.roll_state == REVERTING
        else f"version {record.version} rolled out"
    )
    return ("rolled-out", f"{done}: {wanted} healthy instance(s)")


def _restart(record: DeploymentRecord) -> bool:
    """Whether the roll under way is a rolling restart's."""
    return (record.roll_reason or "").startswith(RESTART_REASON)


def _how_ended(inst: InstanceRecord) -> str:
    """An instance that ended for good, in words: ``instance ID failed (REASON)``."""
    how = inst.reason or f"exit code {inst.exit_code}"
    return f"instance {inst.id} {inst.state} ({how})"


def _failed_run(inst: InstanceRecord) -> bool:
    """Whether an ended instance's run failed (its state says so, a non-zero exit code, or
    a signal), rather than finished its work."""
    return inst.state == S.FAILED or inst.signal is not None or inst.exit_code not in (None, 0)
