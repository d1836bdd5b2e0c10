"""The Timetable: the actor that fires cron schedules (not the placement Scheduler).

It reads every deployment's ``schedule`` and ``restart_schedule`` from the store,
and when a time is due tells the Deployments manager :class:`FireRun` or
:class:`RestartDue` (which routes it to the deployment's supervisor). The cron time it
fired for is written to the store *before* the message is sent: a crash in between
loses that one run rather than running it twice, and a restarted Conductor picks up
from there (:func:`~.times.due`: at most one catch-up run for any number of missed
times).

Time comes from two clocks on purpose. *When* a time is due is a question for the
wall clock, an injectable ``now()`` (Unix seconds; :func:`time.time` by default), so
tests can move it (Trio's mock clock does not move :mod:`datetime`). *How long to
sleep* is Trio's clock: the ticker sleeps until the next due time, but never longer
than ``max_nap`` seconds, so a wall clock that jumps (NTP, a suspended laptop) is
noticed within a nap.

Only the leader fires: ``is_leader()`` is asked at every tick (always True with one
Conductor; the hook for several Conductors sharing one database). A follower neither
fires nor writes fire times, so the leader that takes over later finds the last fire
and catches up at most once.

Who waits on whom: this actor tells the Deployments manager (a blocking send, down the
tree); the manager never waits on it: it pokes it with :class:`SchedulesChanged`
through ``tell_nowait`` (coalescing, see there). Its ticker task only asks this actor.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import trio
from cronsim import CronSimError

from symphony.actors import Actor, ActorRef, ActorStopped

from ..deployments.messages import FireRun, RestartDue, SchedulesChanged
from ..store import DeploymentRecord, Store
from .times import Due, due, is_catch_up, next_time

log = logging.getLogger("symphony.conductor.timetable")

#: The longest the ticker sleeps before it looks at the wall clock again (seconds).
MAX_NAP = 60.0


@dataclass(frozen=True, slots=True)
class Tick:
    """Ask (from the ticker): fire what is due; reply: seconds until the next look."""


class Timetable(Actor):
    """Fires the cron schedules of every deployment; see the module docstring."""

    def __init__(
        self,
        *,
        store: Store,
        deployments: ActorRef,
        now: Callable[[], float] = time.time,
        is_leader: Callable[[], bool] = lambda: True,
        max_nap: float = MAX_NAP,
    ) -> None:
        super().__init__()
        self.store = store
        self.deployments = deployments
        self.now = now
        self.is_leader = is_leader
        self.max_nap = max_nap
        self._poked = trio.Event()
        # The schedule each (deployment, kind) had when last looked at: a changed one
        # starts counting from now, not from a fire under the old expression.
        self._seen: dict[tuple[str, str], Any] = {}
        self._complained: dict[tuple[str, str, str], str] = {}

    async def on_start(self) -> None:
        self.nursery.start_soon(self._ticker)

    async def _ticker(self) -> None:
        while True:
            nap = await self.ref.ask(Tick(), timeout=math.inf)
            with trio.move_on_after(nap):
                await self._poked.wait()
            self._poked = trio.Event()

    async def receive(self, message: Any) -> Any:
        if isinstance(message, Tick):
            return await self._tick()
        if isinstance(message, SchedulesChanged):
            self._poked.set()
            return None
        raise TypeError(f"Timetable does not handle {type(message).__name__}")

    async def _tick(self) -> float:
        if not self.is_leader():
            self._seen.clear()  # a leader later starts from the store
            return self.max_nap
        now = self.now()
        wake = now + self.max_nap
        seen: dict[tuple[str, str], Any] = {}
        for record in self.store.list_deployments():
            spec = record.spec
            for kind, schedule in (("run", spec.schedule), ("restart", spec.restart_schedule)):
                if schedule is None:
                    continue
                seen[(record.id, kind)] = schedule
                try:
                    wake = min(wake, await self._consider(record, kind, schedule, now))
                except (ValueError, CronSimError) as error:
                    # Accepted once, unreadable now (a zone removed from the database, a
                    # stricter parser): skip it, never stop firing the others.
                    self._complain(record, kind, error)
        self._seen = seen
        return max(0.0, wake - now)

    async def _consider(
        self, record: DeploymentRecord, kind: str, schedule: Any, now: float
    ) -> float:
        """Fire ``record``'s ``kind`` schedule if it is due; returns its next time."""
        last = self._last_fire(record, kind, schedule, now)
        found = due(schedule, last, now)
        if found.at is not None:
            last = found.at
            self.store.set_last_fire(record.id, kind, last)
            await self._fire(record, kind, found, now)
        return next_time(schedule, max(last, now))

    def _complain(self, record: DeploymentRecord, kind: str, error: Exception) -> None:
        """Log an unreadable schedule once per schedule value (not at every tick)."""
        key = (record.id, kind, "unreadable")
        if self._complained.get(key) != str(error):
            self._complained[key] = str(error)
            log.warning(
                "%s: cannot read its %s schedule, skipping it: %s", record.name, kind, error
            )

    def _last_fire(self, record: DeploymentRecord, kind: str, schedule: Any, now: float) -> float:
        """The time to count from: the stored last fire, or now for a schedule that is
        new (never fired) or was changed since the last look."""
        last = self.store.last_fire(record.id, kind)
        changed = (record.id, kind) in self._seen and self._seen[(record.id, kind)] != schedule
        if last is None or changed or last > now:
            # ``last > now``: the wall clock went back; count from now, never fire twice.
            last = now
            self.store.set_last_fire(record.id, kind, last)
        return last

    async def _fire(self, record: DeploymentRecord, kind: str, found: Due, now: float) -> None:
        if record.spec.desired_state == "stopped":
            return  # a stopped deployment lets its times pass; starting it runs nothing
        assert found.at is not None
        at, skipped, late = found.at, found.skipped, is_catch_up(found, now)
        if late:
            log.info(
                "%s: catching up on the %s due at %.0f (%d earlier skipped)",
                record.name,
                kind,
                at,
                skipped,
            )
        message: FireRun | RestartDue
        if kind == "run":
            message = FireRun(record.id, at, now, catch_up=late, skipped=skipped)
        else:
            message = RestartDue(record.id, at, now, catch_up=late)
        try:
            await self.deployments.tell(message)
        except ActorStopped:
            log.warning("%s: the deployments manager is stopped; %s lost", record.name, kind)
