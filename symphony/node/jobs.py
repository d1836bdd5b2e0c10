"""ProcessJobs: the link's view of the node's process layer (``symphony.node.process``).

Translates between the wire (``StartInstance``, ``StopInstance``, ``LogRequest``,
``InstanceStatus``) and the :class:`~symphony.node.process.ProcessManager`, and pumps
every status change of every instance to the link, which batches them to the Conductor.

Commands are idempotent, because the Conductor may repeat them after a reconnect: a
start of an instance that exists is a no-op, a stop of an unknown instance is reported
as ``stopped``, and a repeated stop of an instance being stopped does nothing more. A
stop of an instance that ended for good (the Conductor has its end) forgets it quietly.
Stops run in the background: a job's grace period must not hold up the commands
behind it. So do starts while a lost monitor is being replaced (for as long as none can
start): log requests and the other commands need no monitor. A stop of such a start,
of an instance never started here, is answered at once (``stopped before it started``):
nothing runs, and a DELETE does not wait for a monitor to come.

A stop leaves a tombstone (:mod:`symphony.node.tombstones`): a start of that instance
id that arrives later (a stop that overtook its start, a start repeated after a
reconnect) is not run but answered ``stopped``. Instance ids are never reused, so a
late start is always stale. The stops that only let the node forget an instance that
ended for good here leave theirs in a store of their own (``forgotten``), so that a
node ending many instances never pushes out the tombstones of real stops sooner.
"""

from __future__ import annotations

import contextlib
import logging
import signal as signals
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import trio

from symphony.actors import ActorRef, ActorStopped, AskTimeout
from symphony.wire import (
    InstanceSecrets,
    InstanceStatus,
    InstanceUsage,
    LogChunk,
    LogRequest,
    StartInstance,
    StatusBatch,
    StopInstance,
)
from symphony.wire.messages import MAX_ENVS
from symphony.wire.states import InstanceState

from .logserve import LogServer
from .process import (
    InstanceExists,
    InstanceReport,
    ProcessManager,
    StartRequest,
    StatusUpdate,
    UnknownInstance,
)
from .process.redact import mask_text
from .tombstones import Tombstones
from .tunnels import Tunnels

log = logging.getLogger("symphony.node.jobs")

#: At most this many status updates go to the link in one message.
STATUS_GROUP = 100
#: Seconds a hello waits for a monitor being replaced (one is up in well under a
#: second) before it reports the instances as last known: well within the 5 s a
#: Conductor waits for a hello.
HELLO_PATIENCE = 2.0
#: States in which the node will not run an instance again by itself.
_ENDED = ("exited", "failed", "stopped")


@dataclass(slots=True)
class _WaitingStart:
    """A start waiting for a monitor: a stop that finds it ``waiting`` (never started here
    before) ends the ``wait`` and answers for it; once a monitor is up, it goes on."""

    command: StartInstance
    wait: trio.CancelScope = field(default_factory=trio.CancelScope)
    waiting: bool = True


def _not_started(instance_id: str, deployment_id: str) -> InstanceStatus:
    """The final report of an instance stopped before it started here."""
    now = time.time()
    return InstanceStatus(
        instance_id=instance_id,
        deployment_id=deployment_id,
        state=InstanceState.STOPPED,
        reason="stopped before it started",
        at=now,
        finished_at=now,
        final=True,
    )


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

    def __init__(
        self,
        manager: ProcessManager,
        *,
        tombstones: Tombstones | None = None,
        forgotten: Tombstones | None = None,
    ) -> None:
        self.manager = manager
        self._logs = LogServer(manager.state_dir)
        self._link: ActorRef | None = None
        self._nursery: trio.Nursery | None = None
        self._stopping: set[str] = set()  # instances with a stop under way
        #: Instances whose start waits for a monitor (or has waited, and goes on).
        self._waiting: dict[str, _WaitingStart] = {}
        #: The tombstones of real stops: what keeps a stop that overtook its start.
        self.tombstones = Tombstones() if tombstones is None else tombstones
        #: The tombstones of forgets (stops of instances that ended for good here): kept
        #: apart, so that however many end, they never push out real stops' tombstones.
        self.forgotten = Tombstones() if forgotten is None else forgotten
        #: Tunnels for experiments' processes (set by the node when it relays).
        self.tunnels: Tunnels | None = None
        # Subscribe at once: updates emitted while the agent re-adopts (before the pump
        # runs) wait in this buffer instead of being lost.
        self._updates = manager.subscribe()

    async def envs(self) -> tuple[str, ...]:
        """The node's named environments (rescanned now and then, see ``sources``)."""
        sources = self.manager.node.sources
        return () if sources is None else tuple(sorted(await sources.envs()))[:MAX_ENVS]

    # ---- status pump ----------------------------------------------------------------------
    async def pump_statuses(self, link: ActorRef) -> None:
        """Forward every status update to ``link`` until cancelled.

        What was emitted together goes to the link together (one ``StatusBatch``), so
        it leaves in one frame and the Conductor applies it in one go: a restart by the
        monitor is four updates (``exited``, ``restarting``, ``starting``, ``running``)
        emitted at once, which one at a time left in two or three frames, each a hop
        through the Conductor's actors and a transaction of its own.
        """
        self._link = link
        updates = self._updates
        async with updates:
            async for update in updates:
                batch = [self._to_wire(update)]
                while len(batch) < STATUS_GROUP:
                    try:
                        batch.append(self._to_wire(updates.receive_nowait()))
                    except trio.WouldBlock:
                        break
                message = batch[0] if len(batch) == 1 else StatusBatch(updates=tuple(batch))
                try:
                    await link.tell(message)
                except ActorStopped:
                    return

    def _to_wire(self, update: StatusUpdate) -> InstanceStatus:
        deployment_id = update.deployment_id or "unknown"
        final = update.final or update.state in ("failed", "stopped")
        return InstanceStatus(
            instance_id=update.instance_id,
            deployment_id=deployment_id,
            state=InstanceState(update.state),
            pid=update.pid,
            started_at=update.started_at,
            restarts=update.restarts,
            exit_code=update.exit_code,
            signal=_signal_number(update.signal),
            reason=self._masked(update.instance_id, update.reason),
            health=update.health,
            at=update.at,
            restart_at=update.restart_at,
            finished_at=update.at if final else None,
            final=final,
            devices=update.devices,
        )

    # ---- the Jobs protocol --------------------------------------------------------------------
    @property
    def container_runtimes(self) -> tuple[str, ...]:
        """The container runtimes of this node, for the hello."""
        return self.manager.container_runtimes

    async def reports(self) -> list[InstanceStatus]:
        """Every instance's current state, for the hello.

        A node whose monitor is being replaced still says hello: past HELLO_PATIENCE it
        reports each instance as last known, so that the Conductor keeps the jobs that
        still run (waiting on, the link could not come up at all while no monitor could
        be started, and the Conductor would declare the node lost and run them again).
        """
        out = []
        for report in await self.manager.list_instances(patience=HELLO_PATIENCE):
            out.append(self._report_to_wire(report))
        return out

    async def usage(self) -> list[InstanceUsage]:
        """CPU% and RSS of every live instance (zeros between runs), for a heartbeat.

        CPU% is measured since the previous sample of the same process, so with one
        sample per heartbeat it is the average over the heartbeat interval.
        """
        return [
            InstanceUsage(
                instance_id=report.instance_id,
                cpu_percent=max(0.0, report.cpu_percent),
                rss_bytes=max(0, report.rss_bytes),
            )
            for report in await self.manager.list_instances()
            if report.state not in _ENDED
        ]

    def _report_to_wire(self, report: InstanceReport) -> InstanceStatus:
        final = report.state in _ENDED
        return InstanceStatus(
            instance_id=report.instance_id,
            deployment_id=report.deployment_id or "unknown",
            state=InstanceState(report.state),
            pid=report.pid,
            started_at=report.started_at,
            restarts=report.restarts,
            exit_code=report.exit_code,
            signal=_signal_number(report.signal),
            reason=self._masked(report.instance_id, report.reason),
            health=report.health,
            cpu_percent=report.cpu_percent,
            rss_bytes=report.rss_bytes,
            at=time.time(),
            # When it ended, not when we report it (a hello may come long after).
            finished_at=(report.finished_at or time.time()) if final else None,
            final=final,
            restart_at=report.restart_at,
            devices=report.devices,
        )

    async def start(self, command: StartInstance) -> None:
        if self.tunnels is not None and self.tunnels.needs_work(command.spec):
            # Probing the addresses takes up to a second: not in the link's command loop.
            # A stop that comes meanwhile leaves its tombstone, which _start honours.
            assert self._nursery is not None
            self._nursery.start_soon(self._start_tunnelled, command, self.tunnels)
            return
        if not self.manager.ready:
            # A lost monitor is being replaced, for as long as no new one can start: the
            # commands behind this one (logs, secrets, streams) need none, so they must
            # not wait behind it in the link's command loop.
            assert self._nursery is not None
            if command.instance_id not in self._waiting:  # else repeated: one is enough
                pending = self._waiting[command.instance_id] = _WaitingStart(command)
                self._nursery.start_soon(self._start_when_ready, pending)
            return
        await self._start(command)

    async def _start_when_ready(self, pending: _WaitingStart) -> None:
        # The wait first: _start looks for the tombstone of a stop that came meanwhile
        # after it (one that found this start still waiting ended the wait and answered
        # for it). In this object's nursery: nothing may escape (see above).
        command = pending.command
        try:
            with pending.wait:
                await self.manager.wait_ready()
            if pending.wait.cancel_called:
                return  # a stop took it while it waited, and answered for it
            pending.waiting = False
            await self._start(command)
        except Exception as error:
            log.exception("start of %s failed", command.instance_id)
            await self._report_failed(command, f"cannot start: {error!r}")
        finally:
            if self._waiting.get(command.instance_id) is pending:
                del self._waiting[command.instance_id]

    async def _start_tunnelled(self, command: StartInstance, tunnels: Tunnels) -> None:
        # In this object's nursery, beside the node's tree: what escaped would end the
        # agent. A start that fails here fails this instance only, and says why.
        try:
            await self._start_with_tunnels(command, tunnels)
        except Exception as error:
            log.exception("start of %s failed", command.instance_id)
            tunnels.close(command.instance_id)
            await self._report_failed(command, f"cannot start: {error!r}")

    async def _start_with_tunnels(self, command: StartInstance, tunnels: Tunnels) -> None:
        if self._stopped_here(command.instance_id):
            await self._start(command)  # reported as stopped there, no tunnel opened
            return
        if command.instance_id in {r.instance_id for r in self.manager.live_requests()}:
            return  # a start repeated after a reconnect: it runs (with its tunnels)
        prepared = await tunnels.prepare(command)
        await self._start(prepared)
        if self._stopped_here(command.instance_id):
            tunnels.close(command.instance_id)

    def _stopped_here(self, instance_id: str) -> bool:
        """Whether this node was told to stop ``instance_id``, or to forget it once it
        ended (within the tombstones' hour): a start of it now is stale."""
        now = trio.current_time()
        return self.tombstones.contains(instance_id, now=now) or self.forgotten.contains(
            instance_id, now=now
        )

    def _runs_here(self, instance_id: str) -> bool:
        """Whether ``instance_id`` ran here and a stop of it is under way (a start of it
        repeated while a monitor was replaced came late): that stop says how it ended.
        (A start records its instance before the job runs.)"""
        return instance_id in self._stopping and self.manager.store.has(instance_id)

    async def _start(self, command: StartInstance) -> None:
        if self._stopped_here(command.instance_id):
            log.info("start of %s: it was stopped already, not running it", command.instance_id)
            if not self._runs_here(command.instance_id):
                await self._report(_not_started(command.instance_id, command.deployment_id))
            return
        if command.secrets:
            # Kept in memory only (the request saved on disk names the variables).
            self.manager.node.secrets.setdefault(command.instance_id, dict(command.secrets))
        request = StartRequest(
            instance_id=command.instance_id,
            spec=command.spec,
            deployment_id=command.deployment_id,
            replica=command.replica,
            gpus=command.gpus or 0,
        )
        if self.manager.stopping_all:
            # The node is ending with its jobs: the Conductor learns of it when the
            # link ends, and places the replica again then.
            log.info("start of %s: not started, this node is stopping", command.instance_id)
            return
        try:
            await self.manager.start_instance(request)
        except InstanceExists:
            log.debug("start of %s: already here", command.instance_id)
        except UnknownInstance:  # stopped while its monitor was replaced: the stop said so
            log.info("start of %s: stopped meanwhile", command.instance_id)
        except ValueError as error:  # e.g. an instance id this node cannot use
            log.warning("cannot start %s: %s", command.instance_id, error)
            self._forget_secrets(command.instance_id)
            await self._report_failed(command, f"cannot start: {error}")
        except Exception as error:
            # This runs in the link's command loop: what escaped would end the link (an
            # OSError) or crash it, and the Conductor, sending the start again after the
            # next hello, would end it again. One start that fails (its record cannot be
            # written: a full disk) fails this instance only, and the Conductor learns why.
            log.exception("start of %s failed", command.instance_id)
            self._forget_secrets(command.instance_id)
            await self._report_failed(command, f"cannot start: {error!r}")

    def _forget_secrets(self, instance_id: str) -> None:
        """Drop the values of an instance that did not start here (unless it runs: a
        start repeated after it did). Nothing else would: they are freed when the
        manager forgets a stopped instance, and this one it never knew."""
        if instance_id not in {r.instance_id for r in self.manager.live_requests()}:
            self.manager.node.secrets.pop(instance_id, None)

    async def _report_failed(self, command: StartInstance, reason: str) -> None:
        await self._report(
            InstanceStatus(
                instance_id=command.instance_id,
                deployment_id=command.deployment_id,
                state=InstanceState.FAILED,
                reason=_short(reason),
                at=time.time(),
                finished_at=time.time(),
                final=True,
            )
        )

    def keep_secrets(self, command: InstanceSecrets) -> None:
        """The values again, after this agent restarted; a copy held already is kept
        (a secret set again reaches only instances started after it)."""
        self.manager.node.secrets.setdefault(command.instance_id, dict(command.secrets))

    def _masked(self, instance_id: str, text: str | None) -> str | None:
        """``text`` (a reason) shortened, with the instance's secret values masked."""
        held = self.manager.node.secrets.get(instance_id)
        return _short(mask_text(text, held.values()) if text and held else text)

    async def stop(self, command: StopInstance) -> None:
        # Runs in the link's session, in the order the commands came: the tombstone is
        # in place before the next command is looked at. The stop itself may take the
        # job's whole grace period, so it goes to the background.
        assert self._nursery is not None
        instance_id = command.instance_id
        now = trio.current_time()
        if instance_id in self.manager.ended or self.forgotten.contains(instance_id, now=now):
            # A forget (the Conductor has this end): the instance ran here, so this stop
            # did not overtake its start; its tombstone only refuses a repeated start
            # still under way here (see ``symphony.node.tombstones``).
            self.forgotten.add(instance_id, now=now)
        else:
            self.tombstones.add(instance_id, now=now)
        # The Conductor may repeat a stop (after a reconnect, or for a stale copy on
        # every report); one stop per instance at a time is enough, and one stop sends
        # one stop signal.
        if instance_id in self._stopping:
            return
        pending = self._waiting.get(instance_id)
        if pending is not None and pending.waiting and not self.manager.store.has(instance_id):
            # Its start waits for a monitor and never started it here before (a start
            # records its instance before the job runs): nothing runs, and the tombstone
            # keeps anything from running. Answered now, not once a monitor is up, which
            # may take long (the stop would wait for it too, and a DELETE with it).
            pending.waiting = False
            pending.wait.cancel()
            deployment_id = pending.command.deployment_id
            self._nursery.start_soon(self._report, _not_started(instance_id, deployment_id))
            return
        self._stopping.add(instance_id)
        self._nursery.start_soon(self._stop, instance_id)

    async def _stop(self, instance_id: str) -> None:
        try:
            while True:
                try:
                    await self.manager.stop_instance(instance_id)
                    break
                except AskTimeout as error:
                    # Its supervisor gave no answer in time (a stalled monitor): the stop
                    # goes on there, and asking again (idempotent) waits for it once more.
                    log.warning("stop of %s not done yet: %s", instance_id, error)
        except UnknownInstance:
            self._forget_secrets(instance_id)  # sent again after a restart, say: unused
            # The deployment is not known here; the stopped report that counts is the
            # one answering a late start, which carries it.
            await self._report(
                InstanceStatus(
                    instance_id=instance_id,
                    deployment_id="unknown",
                    state=InstanceState.STOPPED,
                    reason="not running on this node",
                    at=time.time(),
                    finished_at=time.time(),
                    final=True,
                )
            )
        except Exception as error:
            # In this object's nursery, beside the node's tree: what escaped would end
            # the agent and every job's supervision with it. A stop that fails otherwise
            # fails this stop only; the Conductor's next stop of the instance tries again.
            log.exception("stop of %s failed: %r", instance_id, error)
        finally:
            self._stopping.discard(instance_id)
            if self.tunnels is not None:
                self.tunnels.close(instance_id)

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
        self._link = link  # at once: a command may need to report before the pump runs
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            nursery.start_soon(self.pump_statuses, link)
            task_status.started()
            await trio.sleep_forever()


def _short(text: str | None) -> str | None:
    return None if text is None else text[:4000]


__all__ = ["ProcessJobs"]
