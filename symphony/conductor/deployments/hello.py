"""What a DeploymentSupervisor does with a node's hello (its full list of instances).

A mixin of :class:`~symphony.conductor.deployments.supervisor.DeploymentSupervisor`,
apart so that each module stays one size a reader can hold:

- an instance the node no longer runs: a start that never reached it is sent again,
  a stop is confirmed, anything else is ``lost``;
- a lost instance the node says *exited* meanwhile gets its real end, and its
  replacement is cancelled unless it has run already;
- live instances that use secrets get their values again (:class:`InstanceSecrets`):
  a node whose agent restarted holds none.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

from symphony.wire import InstanceStatus, JobSpec, StartInstance
from symphony.wire.states import InstanceState as S
from symphony.wire.states import is_live

from .commands import send_batched
from .instances import apply_update, job_spec, replacements, status_event
from .secret_delivery import SECRET_ERRORS, redeliveries, secret_values

if TYPE_CHECKING:
    from ..secrets import SecretVault
    from ..store import DeploymentRecord, InstanceRecord
    from .messages import NodeReport

log = logging.getLogger("symphony.conductor.deployments")

#: Why a replacement is withdrawn when the instance it replaced turns out to have exited.
CANCELLED = "cancelled: the instance it replaced exited while its node was unreachable"


class HelloHandling:
    """The hello part of a DeploymentSupervisor (see the module docstring)."""

    if TYPE_CHECKING:  # provided by DeploymentSupervisor
        record: DeploymentRecord
        instances: dict[str, InstanceRecord]
        secrets: SecretVault | None
        _cancelled: set[str]

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

    async def _exited_while_lost(
        self, inst: InstanceRecord, update: InstanceStatus
    ) -> InstanceRecord:
        """``inst`` was declared lost with its node, but its node now says it exited
        meanwhile (with the real code and time): record that, and cancel the replacement
        unless it has already run (then the outage made the job run twice)."""
        after = apply_update(inst, update)
        event = status_event(inst, after, update)
        if event is not None:
            kind, text, data = event
            self._event(kind, text, after, **data)
        unstarted, running = replacements(self.instances.values(), inst)
        for other in running:
            log.warning(
                "%s exited on %s while its node was unreachable, but its replacement %s "
                "already ran: the job ran twice; keeping the replacement",
                *(inst.id, inst.node_id, other.id),
            )
        self._cancelled.update(i.id for i in unstarted)
        await self._stop([(i, CANCELLED) for i in unstarted])
        return after

    async def _missing_from_hello(self, report: NodeReport, seen: set[str]) -> None:
        starts: list[StartInstance] = []
        for inst in list(self.instances.values()):
            if inst.node_id != report.node_id or not is_live(inst.state) or inst.id in seen:
                continue
            if inst.state == S.ASSIGNED and report.session is not None:
                # The start never reached the node (it left meanwhile): send it again.
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
