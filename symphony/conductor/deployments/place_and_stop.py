"""How a DeploymentSupervisor sends its instances out and calls them back (a mixin of it).

- :meth:`PlaceAndStop._place`: a placement request per instance, with its start
  command built now (the job's spec, its secrets' values, an experiment's environment),
  told to the Scheduler, which picks a node and sends the start there; an instance
  whose secrets cannot be read fails at once instead;
- :meth:`PlaceAndStop._stop`: instances marked ``stopping`` and their nodes told so, or,
  for one not placed yet, the Scheduler asked to withdraw it. Stopping is confirmed,
  never assumed: the instance ends when its node (or the Scheduler) says it did;
- :meth:`PlaceAndStop._end` and :meth:`PlaceAndStop._release`: an instance ended here,
  and the capacity it held given back to the Scheduler once that is on disk.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from symphony.wire import JobSpec, StartInstance, StopInstance
from symphony.wire.states import InstanceState as S

from .experiment_placement import with_env
from .instances import ended, job_spec, start_command
from .messages import PlaceInstances, ReleaseInstances, WithdrawInstances
from .roles import placement_request
from .secret_delivery import (
    SECRET_ERRORS,
    SECRETS_PROTOCOL,
    needs_protocol,
    relay_protocol,
    secret_values,
)

if TYPE_CHECKING:
    from symphony.actors import ActorRef
    from symphony.wire import Message

    from ..secrets import SecretVault
    from ..store import DeploymentRecord, InstanceRecord


class PlaceAndStop:
    """The placing and stopping of :class:`~.supervisor.DeploymentSupervisor`."""

    if TYPE_CHECKING:  # provided by DeploymentSupervisor
        record: DeploymentRecord
        secrets: SecretVault | None
        scheduler: ActorRef
        _avoid: dict[int, frozenset[str]]
        _placements: list[PlaceInstances] | None

        @property
        def ref(self) -> ActorRef: ...
        def _event(
            self, kind: str, message: str, inst: InstanceRecord | None = None, **data: Any
        ) -> None: ...
        def _save(self, records: list[InstanceRecord], *, restarts: int = 0) -> None: ...
        async def _send(self, node_id: str, commands: Sequence[Message]) -> None: ...

    async def _place(self, instances: list[InstanceRecord]) -> None:
        spec = self.record.spec
        body = job_spec(spec)
        try:
            values = secret_values(self.secrets, spec)
        except SECRET_ERRORS as error:
            for inst in instances:
                self._event("failed", f"{inst.id} failed: {error}", inst)
                await self._end(inst, S.FAILED, f"cannot start: {error}")
            return
        requests = tuple(
            needs_protocol(
                placement_request(
                    self.record,
                    inst,
                    self._avoid.get(inst.replica, frozenset()),
                    self._start_command(inst, body, values),
                ),
                max(SECRETS_PROTOCOL if values else 1, relay_protocol(self.record.spec)),
            )
            for inst in instances
        )
        place = PlaceInstances(requests, self.ref)
        if self._placements is not None:  # a new deployment's start: sent with its group's
            self._placements.append(place)
        else:
            await self.scheduler.tell(place)

    def _start_command(
        self, inst: InstanceRecord, body: JobSpec, values: dict[str, str] | None
    ) -> StartInstance:
        start = start_command(self.record, inst, body, values)
        env = inst.network.get("env")  # an experiment's process, placed: its SYMPH_* values
        return with_env(start, env) if env else start

    async def _stop(self, stops: list[tuple[InstanceRecord, str]]) -> None:
        """Mark instances ``stopping`` and tell their nodes (or the Scheduler) so.

        An instance not placed yet may be placed at this very moment: the Scheduler
        answers a withdrawal with ``withdrawn`` or with the ``Placed`` already on its
        way, and only then does the instance end (see
        :meth:`~.placement_news.PlacementNewsHandling._news`).
        """
        stops = [(i, r) for i, r in stops if i.state != S.STOPPING]
        if not stops:
            return
        self._save([replace(inst, state=S.STOPPING, reason=reason) for inst, reason in stops])
        withdraw: list[str] = []
        commands: dict[str, list[StopInstance]] = defaultdict(list)
        for inst, reason in stops:
            if inst.node_id is None:
                withdraw.append(inst.id)
                continue
            self._event("stopping", f"stopping {inst.id}: {reason}", inst)
            commands[inst.node_id].append(StopInstance(instance_id=inst.id, reason=reason))
        if withdraw:
            await self.scheduler.tell(WithdrawInstances(tuple(withdraw), self.ref))
        for node_id, batch in commands.items():
            await self._send(node_id, batch)

    async def _end(self, inst: InstanceRecord, state: S, reason: str | None) -> None:
        self._save([record := ended(inst, state, reason)])
        await self._release([record.id])

    async def _release(self, ids: list[str]) -> None:
        if ids:
            await self.scheduler.tell(ReleaseInstances(tuple(ids)))
