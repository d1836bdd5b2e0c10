"""An instance declared lost turns out to have exited meanwhile (a mixin of the
DeploymentSupervisor).

When a node is lost past the timeout its instances are ``lost`` and replaced; when the
node comes back and says one of them *exited* during the outage, the instance shows
``exited`` with its real code after all, and its replacement is cancelled if it has not
run yet.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from symphony.wire import InstanceStatus

from .instances import apply_update, replacements, status_event

if TYPE_CHECKING:
    from ..store import InstanceRecord

log = logging.getLogger("symphony.conductor.deployments")

#: Why a replacement is withdrawn when the instance it replaced turns out to have exited.
CANCELLED = "cancelled: the instance it replaced exited while its node was unreachable"


class OutageWork:
    """The outage handler of :class:`~.supervisor.DeploymentSupervisor`."""

    if TYPE_CHECKING:
        instances: dict[str, InstanceRecord]
        _cancelled: set[str]

        async def _stop(self, stops: list[tuple[InstanceRecord, str]]) -> None: ...
        def _event(
            self, kind: str, message: str, inst: InstanceRecord | None = None, **data: Any
        ) -> None: ...

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
