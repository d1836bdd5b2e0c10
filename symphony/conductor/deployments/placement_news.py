"""What a DeploymentSupervisor does with the Scheduler's news (a mixin of it).

The Scheduler never blocks on a supervisor: it sends what became of each instance back
up as :class:`~.messages.PlacementNews`, through its fan-out, and this applies it:

- ``placed``: the instance is ``assigned`` to its node (the node was already told to
  start it); one that was stopped or forgotten meanwhile is stopped there instead, its
  capacity released;
- ``lost``: a node's reservations are gone with the node, so its instances are ``lost``
  and their replacements avoid that node;
- ``withdrawn``: an instance stopped before it was placed has ended;
- ``unplaceable``: the reason an instance still waits, noted with its event;
- ``reconnect``: an experiment's processes whose peers moved are restarted.

A burst's placements and reasons are saved in one transaction with those the other
supervisors hear at the same moment (``savegroup.py``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from symphony.wire import StopInstance
from symphony.wire.states import InstanceState as S
from symphony.wire.states import is_live

from .instances import ended, evolved
from .messages import NotRestarted
from .roles import reconnects

if TYPE_CHECKING:
    from symphony.actors import ActorRef
    from symphony.wire import Message

    from ..store import InstanceRecord
    from .messages import Placed, PlacementNews, ReservationsLost, Unplaceable


class PlacementNewsHandling:
    """The Scheduler's news, applied by :class:`~.supervisor.DeploymentSupervisor`."""

    if TYPE_CHECKING:  # provided by DeploymentSupervisor
        instances: dict[str, InstanceRecord]
        _avoid: dict[int, frozenset[str]]
        scheduler: ActorRef

        def _event(
            self, kind: str, message: str, inst: InstanceRecord | None = None, **data: Any
        ) -> None: ...
        def _save(self, records: list[InstanceRecord], *, restarts: int = 0) -> None: ...
        async def _save_together(
            self, records: list[InstanceRecord], *, restarts: int = 0
        ) -> None: ...
        async def _send(self, node_id: str, commands: Sequence[Message]) -> None: ...
        async def _stop(self, stops: list[tuple[InstanceRecord, str]]) -> None: ...
        async def _release(self, ids: list[str]) -> None: ...
        async def _reconcile(self) -> None: ...
        def _timed(self) -> bool: ...

    async def _news(self, news: PlacementNews) -> None:
        stops: dict[str, list[StopInstance]] = defaultdict(list)
        forgotten: list[str] = []
        assigned: list[InstanceRecord] = []
        for placed in news.placed:
            inst = self.instances.get(placed.instance_id)
            if inst is None or not is_live(inst.state):
                forgotten.append(placed.instance_id)
            record, stop = self._placed(placed)
            if record is not None:
                assigned.append(record)
            if stop is not None:
                stops[placed.node_id].append(stop)
        # One transaction for a whole burst of placements, and for the other
        # supervisors' placements of the same moment.
        await self._save_together(assigned)
        await self._release(forgotten)  # nothing here would ever release them
        for lost in news.lost:
            self._lost(lost)
        withdrawn = [self.instances.get(i) for i in news.withdrawn]
        self._save(
            [
                ended(i, S.STOPPED, i.reason)
                for i in withdrawn
                if i is not None and is_live(i.state) and i.node_id is None
            ]
        )
        # Each reason with its event; like the placements, in one transaction with the
        # other supervisors hearing theirs at the same moment. (A new deployment's first
        # instances come with the reason foreseen at its create: the Scheduler tells
        # only one that changed since.)
        reasons = [r for u in news.unplaceable if (r := self._unplaceable(u)) is not None]
        await self._save_together(reasons)
        restarts = reconnects(self.instances, news.reconnect)
        await self._stop(restarts)
        if skipped := tuple(sorted(set(news.reconnect) - {i.id for i, _ in restarts})):
            await self.scheduler.tell(NotRestarted(skipped))  # else it would go home
        for node_id, batch in stops.items():
            await self._send(node_id, batch)
        if news.placed or news.lost or news.withdrawn or news.reconnect or self._timed():
            await self._reconcile()
        # Else only reasons changed: the end of the last message reconciled everything
        # else as it is now, and no rule reads a reason (only a roll does).

    def _placed(self, msg: Placed) -> tuple[InstanceRecord | None, StopInstance | None]:
        """The instance's record once placed (to save), and the stop to send if it is no
        longer wanted."""
        inst = self.instances.get(msg.instance_id)
        if inst is None or not is_live(inst.state):
            # Forgotten (or ended) while the placement was under way, across a restart of
            # this actor: its start is on its way to the node, so stop it there.
            return None, StopInstance(instance_id=msg.instance_id, reason="no longer wanted")
        placed = {
            "node_id": msg.node_id,
            "reservation": dict(msg.reservation),
            "network": dict(msg.network),
        }
        if inst.state == S.STOPPING:
            self._event("stopping", f"stopping {inst.id}: {inst.reason}", inst)
            stop = StopInstance(instance_id=inst.id, reason=inst.reason or "stopped")
            return evolved(inst, placed), stop  # still stopping, with its reason
        self._event("placed", f"{inst.id} placed on {msg.node_id}", inst)
        return evolved(inst, {**placed, "state": S.ASSIGNED, "reason": None}), None

    def _unplaceable(self, msg: Unplaceable) -> InstanceRecord | None:
        """The instance with the Scheduler's reason (to save; its event is noted), or
        None if nothing changes."""
        inst = self.instances.get(msg.instance_id)
        if inst is None or inst.node_id is not None or inst.state != S.PENDING:
            return None  # placed meanwhile, ended, or being stopped before it was placed
        if inst.reason == msg.reason:
            return None
        self._event("pending", f"{inst.id} pending: {msg.reason}", inst)
        return evolved(inst, {"reason": msg.reason})

    def _lost(self, msg: ReservationsLost) -> None:
        for instance_id in msg.instance_ids:
            inst = self.instances.get(instance_id)
            if inst is None or not is_live(inst.state):
                continue
            reason = f"node {msg.node_id} lost"
            self._save([ended(inst, S.LOST, reason)])
            self._avoid[inst.replica] = frozenset({msg.node_id})
            self._event("lost", f"{inst.id}: {reason}; rescheduling", inst)
