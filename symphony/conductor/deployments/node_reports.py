"""What a DeploymentSupervisor does with a node's report on its instances (a mixin of it).

Each update of a :class:`~.messages.NodeReport` is applied to its instance record:
new state, exit code, restarts, health, with an event for each change worth one. The
changed records are saved once per report, with the other supervisors' parts of the
same frame, and the capacity of those that ended is released once that is on disk.
Then:

- a copy the Conductor does not count (rescheduled elsewhere, deleted) is told to stop;
- an instance the Conductor has on no node is claimed for the reporting node, if the
  Scheduler agrees (``claims.py``);
- an instance told to stop stays ``stopping`` until its node confirms; a hello that
  still lists it running gets the stop again;
- a lost instance whose node says it exited meanwhile is handled by ``outage.py``;
- an instance ``failed`` for good is rescheduled (``rescheduling.py``);
- an instance that ended by itself may be forgotten by its node once its end is saved;
- a hello (a full list) goes on to ``hello.py``.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING, Any, cast

from symphony.wire import StopInstance
from symphony.wire.states import InstanceState as S
from symphony.wire.states import is_live

from .claims import claim
from .commands import send_batched, tell_session
from .instances import (
    apply_update,
    ended_by_itself,
    forget_ended,
    is_final_update,
    restarts_added,
    status_event,
)

if TYPE_CHECKING:
    from symphony.wire import InstanceStatus

    from ..store import InstanceRecord
    from .messages import NodeReport
    from .supervisor import DeploymentSupervisor

log = logging.getLogger("symphony.conductor.deployments")


class NodeReportHandling:
    """A node's reports, applied by :class:`~.supervisor.DeploymentSupervisor`."""

    if TYPE_CHECKING:  # provided by DeploymentSupervisor
        instances: dict[str, InstanceRecord]
        _avoid: dict[int, frozenset[str]]

        def _event(
            self, kind: str, message: str, inst: InstanceRecord | None = None, **data: Any
        ) -> None: ...
        async def _save_together(
            self, records: list[InstanceRecord], *, restarts: int = 0
        ) -> None: ...
        async def _release(self, ids: list[str]) -> None: ...
        async def _reconcile(self) -> None: ...
        async def _after_hello(self, report: NodeReport, seen: set[str]) -> None: ...
        async def _exited_while_lost(
            self, inst: InstanceRecord, update: InstanceStatus
        ) -> InstanceRecord: ...
        def _reschedule(self, inst: InstanceRecord) -> None: ...

    async def _node_report(self, report: NodeReport) -> None:
        seen: set[str] = set()
        changed: dict[str, InstanceRecord] = {}
        restarts = 0
        for update in report.updates:
            seen.add(update.instance_id)
            before = self.instances.get(update.instance_id)
            after = await self._apply(report, update)
            if after is not None:
                restarts += restarts_added(before, after)
                # Kept in memory now (a later update in this report builds on it) and
                # written with the others in one transaction below.
                self.instances[after.id] = changed[after.id] = after
        # Once per report, with the other supervisors' parts of the same frame.
        await self._save_together(list(changed.values()), restarts=restarts)
        # Capacity is released once the end is on disk.
        await self._release([i for i in changed if not is_live(self.instances[i].state)])
        if report.session is not None:
            await send_batched(report.session, forget_ended(self._ended_there(report, changed)))
        if report.full:
            await self._after_hello(report, seen)
        await self._reconcile()

    def _ended_there(self, report: NodeReport, changed: dict[str, InstanceRecord]) -> list[str]:
        """The instances whose end by itself on the node is on disk here by now: the node
        may forget them. Once, when the end is recorded; again on each hello that still
        lists one (the stop was lost with the link, or the agent restarted first)."""
        return [
            u.instance_id
            for u in report.updates
            if ended_by_itself(u)
            and (u.instance_id in changed or report.full)
            and not self._live_on(u.instance_id, report.node_id)
        ]

    def _live_on(self, instance_id: str, node_id: str) -> bool:
        inst = self.instances.get(instance_id)
        return inst is not None and inst.node_id == node_id and is_live(inst.state)

    async def _apply(self, report: NodeReport, update: InstanceStatus) -> InstanceRecord | None:
        """The instance after ``update`` (to be saved), or None if nothing changes."""
        inst = self.instances.get(update.instance_id)
        if (
            inst is not None
            and inst.state == S.LOST
            and inst.node_id == report.node_id
            and update.state == S.EXITED
            and is_final_update(update)
        ):
            return await self._exited_while_lost(inst, update)
        stale = (
            inst is None
            or (inst.node_id is not None and inst.node_id != report.node_id)
            or (not is_live(inst.state) and inst.state in (S.LOST, S.STOPPED))
        )
        if stale:
            if not is_final_update(update) and report.session is not None:
                log.info("stopping stale copy %s on %s", update.instance_id, report.node_id)
                await tell_session(
                    report.session,
                    StopInstance(
                        instance_id=update.instance_id,
                        reason="stale copy: this instance was rescheduled or removed",
                    ),
                )
            return None
        assert inst is not None
        if not is_live(inst.state):
            return None  # already ended here; a repeated final report changes nothing
        if inst.node_id is None:
            # Placed and started, but the conductor went down before recording it, or
            # the node's report overtook the placement; else never given (claims.py).
            # (A mixin: ``self`` is always the DeploymentSupervisor the claim needs.)
            sup = cast("DeploymentSupervisor", self)
            claimed = await claim(sup, inst, report, update)
            if claimed is None:
                return None
            inst = claimed
        before = inst
        after = apply_update(inst, update)
        if inst.state == S.STOPPING and is_live(after.state):
            # Told to stop: it stays stopping until the node confirms. If the node says
            # hello with it still running, our stop never reached it: say it again.
            after = replace(after, state=S.STOPPING, reason=inst.reason)
            if report.full and report.session is not None:
                stop = StopInstance(instance_id=inst.id, reason=inst.reason or "stopped")
                await tell_session(report.session, stop)
        event = status_event(before, after, update)
        if event is not None:
            kind, text, data = event
            self._event(kind, text, after, **data)
        if after.state == S.FAILED and not is_live(after.state):
            self._reschedule(after)
        elif after.state == S.RUNNING:
            # The nodes its placement avoided (it failed or was lost there) are spent:
            # kept, they would steer every later placement of the replica (a rolling
            # restart's, a restart to reconnect's) off the node it now runs well on.
            self._avoid.pop(after.replica, None)
        return after
