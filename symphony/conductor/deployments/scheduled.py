"""What a DeploymentSupervisor does when a schedule fires (a mixin of it).

- :class:`FireRun` (``schedule``): start a run, see :mod:`.runs`;
- :class:`RestartDue` (``restart_schedule`` with ``strategy: all-at-once``): restart
  every instance at once, see :meth:`ScheduledWork._restart_all` (the default strategy,
  ``rolling``, is a rolling restart: the Deployments manager stores it as a change, see
  :mod:`.restarting`, and this actor rolls it as an update).

Both come from the Timetable through the Deployments manager, down the tree like
every request; nothing here waits on anything above.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING, Any

from symphony.wire.states import is_live

from .messages import FireRun, RestartDue
from .restarting import roll_refusal
from .runs import RunBook, when

#: The messages :meth:`ScheduledWork._on_schedule` handles.
SCHEDULED = (FireRun, RestartDue)

if TYPE_CHECKING:
    from ..store import DeploymentRecord, InstanceRecord, Store
    from .retries import Retries


class ScheduledWork:
    """The schedule handlers of :class:`~.supervisor.DeploymentSupervisor`."""

    if TYPE_CHECKING:
        record: DeploymentRecord
        instances: dict[str, InstanceRecord]
        store: Store
        _retries: Retries
        _restart_completed: bool
        _deleting: bool

        async def _stop(self, stops: list[tuple[InstanceRecord, str]]) -> None: ...
        async def _reconcile(self) -> None: ...
        def _event(
            self, kind: str, message: str, inst: InstanceRecord | None = None, **data: Any
        ) -> None: ...

    _runs: RunBook

    def _wanted_replicas(self) -> int:
        """How many replica numbers are wanted while running: ``replicas``, or for a
        scheduled deployment those its runs going on use."""
        spec = self.record.spec
        return spec.replicas if spec.schedule is None else self._runs.width()

    def _run_needs(self, replica: int, latest: InstanceRecord | None) -> bool | None:
        """Whether a scheduled deployment's runs want a new instance for ``replica``
        (None: not scheduled, or the usual rules decide; see :meth:`RunBook.needs`)."""
        return None if self.record.spec.schedule is None else self._runs.needs(replica, latest)

    def _settle_runs(self) -> None:
        """Finish the runs whose instances have all ended (after every message)."""
        schedule = self.record.spec.schedule
        history = schedule.history if schedule is not None else 10
        self._runs.settle(self.instances, self._retries, history, self._event)

    async def _on_schedule(self, message: FireRun | RestartDue) -> None:
        if self._deleting:
            return
        if isinstance(message, FireRun):
            if self.record.failure is not None:
                # A failed run does not fail the schedule: the next run starts afresh.
                self.store.set_deployment_failure(self.record.id, None)
                # Only the failure changes here: the store may hold a newer spec already,
                # told to this actor behind this message, which would be ignored as no
                # newer had this record been read back.
                self.record = replace(self.record, failure=None)
            stops = self._runs.fire(
                message, self.record, self.instances, self._retries, self._event
            )
            await self._stop(stops)
        else:
            await self._restart_all(message)
        await self._reconcile()

    async def _restart_all(self, message: RestartDue) -> None:
        """Restart every instance at once (``strategy: all-at-once``): stop each live
        one (its replacement is made when the stop is confirmed, as after any stop) and
        start those that ended. Not during a roll (under way or paused): stopping every
        instance would undo its care; the time passes with an event, as for a rolling
        restart."""
        if self.record.spec.restart_schedule is None or self.record.spec.desired_state != "running":
            return
        zone = self.record.spec.restart_schedule.timezone
        rolling = roll_refusal(self.record)
        if rolling is not None:
            at = when(message.scheduled_at, zone)
            self._event("restart-skipped", f"scheduled restart for {at} skipped: {rolling}")
            return
        live = [i for i in self.instances.values() if is_live(i.state)]
        self._event(
            "restart-scheduled",
            f"scheduled restart for {when(message.scheduled_at, zone)}: restarting "
            f"{len(live)} instance(s) at once",
        )
        await self._stop([(i, "scheduled restart") for i in live])
        self._restart_completed = True  # replicas that ended start again too
