"""ProcessJobs: the link's view of the node's process layer (``symphony.node.process``).

Translates between the wire (``StartInstance``, ``StopInstance``, ``LogRequest``,
``InstanceStatus``) and the :class:`~symphony.node.process.ProcessManager`, and pumps
every status change of every instance to the link, which batches them to the Conductor.

Commands are idempotent, because the Conductor may repeat them after a reconnect: a
start of an instance that exists is a no-op, a stop of an unknown instance is reported
as ``stopped``. Stops run in the background: a job's grace period must not hold up the
commands behind it.
"""

from __future__ import annotations

import contextlib
import logging
import signal as signals
import time
from collections.abc import Awaitable, Callable

import trio

from symphony.actors import ActorRef, ActorStopped
from symphony.wire import InstanceStatus, LogChunk, LogRequest, StartInstance, StopInstance

from .logserve import LogServer
from .process import (
    InstanceExists,
    InstanceReport,
    ProcessManager,
    SpecError,
    StartRequest,
    StatusUpdate,
    UnknownInstance,
)

log = logging.getLogger("symphony.node.jobs")


def _signal_number(name: str | None) -> int | None:
    if name is None:
        return None
    try:
        return int(signals.Signals[name])
    except KeyError:
        digits = name.removeprefix("SIG")
        return int(digits) if digits.isdigit() else None


class ProcessJobs:
    """Implements :class:`symphony.node.link.Jobs` on a running ProcessManager."""

    def __init__(self, manager: ProcessManager) -> None:
        self.manager = manager
        self._logs = LogServer(manager.state_dir)
        self._deployment_of: dict[str, str] = {}
        self._link: ActorRef | None = None
        self._nursery: trio.Nursery | None = None
        self._stopping: set[str] = set()
        # Subscribe at once: updates emitted while the agent re-adopts (before the pump
        # runs) wait in this buffer instead of being lost.
        self._updates = manager.subscribe()

    # ---- status pump ----------------------------------------------------------------------
    async def pump_statuses(self, link: ActorRef) -> None:
        """Forward every status update to ``link`` until cancelled."""
        self._link = link
        updates = self._updates
        async with updates:
            async for update in updates:
                status = await self._to_wire(update)
                try:
                    await link.tell(status)
                except ActorStopped:
                    return

    async def _to_wire(self, update: StatusUpdate) -> InstanceStatus:
        deployment_id = self._deployment_of.get(update.instance_id)
        if deployment_id is None:
            await self.reports()  # learns the deployment of adopted instances
            deployment_id = self._deployment_of.get(update.instance_id, "unknown")
        final = update.final or update.state in ("failed", "stopped")
        return InstanceStatus(
            instance_id=update.instance_id,
            deployment_id=deployment_id,
            state=update.state,  # type: ignore[arg-type]
            pid=update.pid,
            restarts=update.restarts,
            exit_code=update.exit_code,
            signal=_signal_number(update.signal),
            reason=_short(
                update.reason
                or (f"restarting in {update.delay:g} s" if update.state == "restarting" else None)
            ),
            health=update.health,
            at=update.at,
            finished_at=update.at if final else None,
            final=final,
        )

    # ---- the Jobs protocol --------------------------------------------------------------------
    async def reports(self) -> list[InstanceStatus]:
        """Every instance's current state, for the hello."""
        out = []
        for report in await self.manager.list_instances():
            if report.deployment_id:
                self._deployment_of[report.instance_id] = report.deployment_id
            out.append(self._report_to_wire(report))
        return out

    def _report_to_wire(self, report: InstanceReport) -> InstanceStatus:
        final = report.state in ("exited", "failed", "stopped")
        return InstanceStatus(
            instance_id=report.instance_id,
            deployment_id=report.deployment_id or "unknown",
            state=report.state,  # type: ignore[arg-type]
            pid=report.pid,
            restarts=report.restarts,
            exit_code=report.exit_code,
            signal=_signal_number(report.signal),
            reason=_short(report.reason),
            health=report.health,
            cpu_percent=report.cpu_percent,
            rss_bytes=report.rss_bytes,
            at=time.time(),
            final=final,
        )

    async def start(self, command: StartInstance) -> None:
        self._deployment_of[command.instance_id] = command.deployment_id
        request = StartRequest(
            instance_id=command.instance_id,
            spec=command.spec,
            deployment_id=command.deployment_id,
            replica=command.replica,
        )
        try:
            await self.manager.start_instance(request)
        except InstanceExists:
            log.debug("start of %s: already here", command.instance_id)
        except (SpecError, ValueError) as error:
            log.warning("cannot start %s: %s", command.instance_id, error)
            await self._report(
                InstanceStatus(
                    instance_id=command.instance_id,
                    deployment_id=command.deployment_id,
                    state="failed",
                    reason=_short(f"invalid job spec: {error}"),
                    at=time.time(),
                    finished_at=time.time(),
                    final=True,
                )
            )

    async def stop(self, command: StopInstance) -> None:
        # Runs in the link's session; the stop itself may take the job's whole grace
        # period, so it goes to the background.
        assert self._nursery is not None
        self._nursery.start_soon(self._stop, command)

    async def _stop(self, command: StopInstance) -> None:
        # The Conductor may repeat a stop (after a reconnect, or for a stale copy on
        # every report); one stop per instance at a time is enough.
        if command.instance_id in self._stopping:
            return
        self._stopping.add(command.instance_id)
        try:
            await self.manager.stop_instance(command.instance_id)
        except UnknownInstance:
            await self._report(
                InstanceStatus(
                    instance_id=command.instance_id,
                    deployment_id=self._deployment_of.get(command.instance_id, "unknown"),
                    state="stopped",
                    reason="not running on this node",
                    at=time.time(),
                    finished_at=time.time(),
                    final=True,
                )
            )

    async def _report(self, status: InstanceStatus) -> None:
        if self._link is not None:
            with contextlib.suppress(ActorStopped):
                await self._link.tell(status)

    async def serve_logs(
        self, request: LogRequest, send: Callable[[LogChunk], Awaitable[None]]
    ) -> None:
        await self._logs.serve(request, send)

    # ---- running ------------------------------------------------------------------------------
    async def run(
        self, link: ActorRef, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Pump statuses to ``link`` and host background stops, until cancelled."""
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self.pump_statuses, link)
            task_status.started()
            await trio.sleep_forever()


def _short(text: str | None) -> str | None:
    return None if text is None else text[:4000]


__all__ = ["ProcessJobs"]
