"""What a DeploymentSupervisor does with a node's hello (its full list of instances).

A mixin of :class:`~symphony.conductor.deployments.supervisor.DeploymentSupervisor`,
apart so that each module stays one size a reader can hold:

- an instance the node no longer runs: a start that never reached it is sent again,
  a stop is confirmed, anything else is ``lost``;
- live instances that use secrets get their values again (:class:`InstanceSecrets`):
  a node whose agent restarted holds none.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

from symphony.wire import JobSpec, StartInstance
from symphony.wire.states import InstanceState as S
from symphony.wire.states import is_live

from .commands import send_batched
from .instances import job_spec
from .secret_delivery import SECRET_ERRORS, redeliveries, secret_values

if TYPE_CHECKING:
    from ..secrets import SecretVault
    from ..store import DeploymentRecord, InstanceRecord
    from .messages import NodeReport


class HelloHandling:
    """The hello part of a DeploymentSupervisor (see the module docstring)."""

    if TYPE_CHECKING:  # provided by DeploymentSupervisor
        record: DeploymentRecord
        instances: dict[str, InstanceRecord]
        secrets: SecretVault | None

        def _event(
            self, kind: str, message: str, inst: InstanceRecord | None = None, **data: Any
        ) -> None: ...
        async def _end(self, inst: InstanceRecord, state: S, reason: str | None) -> None: ...
        async def _stop(self, stops: list[tuple[InstanceRecord, str]]) -> None: ...
        def _start_command(
            self, inst: InstanceRecord, body: JobSpec, values: dict[str, str] | None
        ) -> StartInstance: ...

    async def _after_hello(self, report: NodeReport, seen: set[str]) -> None:
        await self._missing_from_hello(report, seen)
        again = redeliveries(self.secrets, self.record.spec, report.updates, self.instances)
        if again and report.session is not None:
            await send_batched(report.session, again)

    async def _missing_from_hello(self, report: NodeReport, seen: set[str]) -> None:
        starts: list[StartInstance] = []
        for inst in list(self.instances.values()):
            if inst.node_id != report.node_id or not is_live(inst.state) or inst.id in seen:
                continue
            if inst.state == S.ASSIGNED and report.session is not None:
                # The start never reached the node (it left meanwhile, or the Conductor
                # was killed between storing the placement and sending it): send it again.
                with contextlib.suppress(*SECRET_ERRORS):  # deleted meanwhile: it waits
                    values = secret_values(self.secrets, self.record.spec)
                    starts.append(self._start_command(inst, job_spec(self.record.spec), values))
            elif inst.state == S.STOPPING:
                await self._end(inst, S.STOPPED, "stopped (node no longer runs it)")
            else:
                reason = f"node {report.node_id} no longer runs it"
                await self._end(inst, S.LOST, reason)
                self._event("lost", f"{inst.id}: {reason}", inst)
        if starts and report.session is not None:
            await send_batched(report.session, starts)
