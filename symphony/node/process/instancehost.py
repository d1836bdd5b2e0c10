"""The supervisors of a node's instances: hosting them, stopping them, forgetting them.

:class:`InstanceHost` holds one :class:`~symphony.node.process.supervisor.ProcessSupervisor`
actor per instance (``_instances``: by instance id, its ref and the actor), in the
nursery of the monitor that serves (:mod:`.monitorkeeper`, its base). It launches a
supervisor (:meth:`InstanceHost._launch`: started, adopted, or settled in a final state)
and hosts it so that a bug in one instance's supervision fails that instance, not the
node (:meth:`InstanceHost._host`). It stops an instance (:meth:`InstanceHost.stop_instance`)
whatever comes in between: a start of it under way (the stop waits for it), a monitor
lost mid-stop (the re-adopted copy is stopped, never restarted), an instance that ended
for good (forgotten at once, see :mod:`.ended`). Then it forgets the instance entirely
but for its log files: its record, secrets, devices and kept updates
(:meth:`InstanceHost._forget`).

When the monitor is lost the supervisors go with it: the instances as they were are
kept for a hello (``_known``) until the new monitor's adoption hosts them again.
:class:`~symphony.node.process.manager.ProcessManager` builds on it and says what each
status update means (``emit``).

Its neighbours use a small public interface, never its attributes: the adoption
(:mod:`.adoption`) asks :meth:`InstanceHost.hosts`, hosts what it takes over with
:meth:`InstanceHost.adopt_instance`, reports old runs' ends with ``emit`` and keeps the
instances that ended for good with :meth:`InstanceHost.note_ended`; the log sweep
(:mod:`.loggc`) keeps the logs of :meth:`InstanceHost.held_ids`.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import time
from collections.abc import Iterable
from typing import Any

import trio

from symphony.actors import ActorRef, ActorStopped, spawn
from symphony.errors import SymphonyError
from symphony.wire import JobSpec

from .client import MonitorLost
from .devices import DeviceLedger
from .ended import EndedInstances
from .localstate import InstanceStore
from .monitorkeeper import MonitorKeeper
from .nodecontext import NodeContext
from .proctree import Snapshot
from .records import InstanceReport, ProcessState, StartRequest, StatusUpdate
from .statusfeed import StatusFeed
from .supervisor import GetReport, ProcessSupervisor, StopInstance

logger = logging.getLogger(__name__)


def crash_reason(error: BaseException) -> str:
    """A supervisor's crash in words for an instance's reason: the first leaf exception
    of (nested) groups, as ``Type: message`` on one line (the traceback goes to the log).

    >>> crash_reason(ExceptionGroup("x", [RuntimeError("the sink is full")]))
    'RuntimeError: the sink is full'
    """
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    text = " ".join(str(error).split())
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class InstanceExists(SymphonyError, ValueError):
    """An instance with this id is already on this node."""


class UnknownInstance(SymphonyError, LookupError):
    """No instance with this id on this node."""


class InstanceHost(MonitorKeeper):
    """Hosts, stops and forgets the supervisors of a node's instances (module docstring)."""

    def __init__(
        self,
        *,
        state_dir: str,
        node: NodeContext,
        devices: DeviceLedger,
        store: InstanceStore,
        feed: StatusFeed,
        ended_kept: int,
    ) -> None:
        super().__init__(state_dir)
        self.node = node
        #: Who holds which GPU device (the node's device ids).
        self.devices = devices
        self.store = store
        self.feed = feed
        self._instances: dict[str, tuple[ActorRef | None, ProcessSupervisor]] = {}
        #: Ended for good, kept until the Conductor has their end (see :mod:`.ended`).
        self.ended = EndedInstances(ended_kept)
        #: The instances as they were when the last monitor was lost (see list_instances).
        self._known: list[InstanceReport] = []
        #: Instances a stop is under way for: re-adopted with their stop requested, so a
        #: monitor replacement mid-stop never starts or restarts them.
        self._stopping: set[str] = set()
        #: Starts under way, set when each is done: a stop that finds no instance waits
        #: for the start before it (both may wait for a monitor and wake in any order).
        self._starting: dict[str, trio.Event] = {}

    def emit(self, update: StatusUpdate) -> None:
        """Act on a status update as on one from a supervisor, and hand it on (the
        manager's: see ``ProcessManager.emit``)."""
        raise NotImplementedError

    def _supervisors_lost(self, was_ready: bool) -> None:
        if was_ready:
            self._known = [actor.report() for _, actor in self._instances.values()]
        self._instances.clear()
        self.ended.clear()  # noted again as the new monitor's adoption settles them

    # ---- what the adoption and the log sweep use ------------------------------------
    def hosts(self, instance_id: str) -> bool:
        """Whether a supervisor of ``instance_id`` is hosted now (live, or ended for good
        and kept until the Conductor has its end)."""
        return instance_id in self._instances

    def held_ids(self) -> set[str]:
        """The instance ids this node holds: hosted, being started or being stopped
        (what the log sweep must leave alone, beside the instances with a record)."""
        return set(self._instances) | set(self._starting) | set(self._stopping)

    async def adopt_instance(
        self,
        request: StartRequest,
        spec: JobSpec,
        *,
        adopt_live: dict[str, Any] | None = None,
        adopt_ended: dict[str, Any] | None = None,
        settled: ProcessState | None = None,
        outcome: dict[str, Any] | None = None,
    ) -> None:
        """Host a supervisor that takes over an instance left by an earlier agent or
        monitor: it watches ``adopt_live`` (a live run), reports ``adopt_ended`` (its
        latest run, ended) then follows its policy, stays ``settled`` in that final
        state, or, given none of them, starts the instance anew (it was waiting out a
        restart's backoff). ``outcome``: its record's last exit and restarts so far.

        An instance with a stop under way (the monitor went away mid-stop, or
        ``stop_all``) is taken over with its stop requested: stopped, never started or
        restarted. Raises MonitorLost if the monitor went away meanwhile.
        """
        await self._launch(
            request,
            spec,
            adopt_live=adopt_live,
            adopt_ended=adopt_ended,
            settled=settled,
            outcome=outcome,
            stop_requested=request.instance_id in self._stopping,
        )

    def note_ended(self, instance_id: str, at: float) -> None:
        """Keep ``instance_id``, which ended for good at ``at`` (wall clock), until the
        Conductor has its end (see :mod:`.ended`); past the bound, those that ended
        first are forgotten, possibly this one."""
        self._forget_oldest(self.ended.add(instance_id, at))

    def _settle(self, actor: ProcessSupervisor, state: ProcessState, reason: str) -> None:
        """Settle an instance whose supervision is over in ``state``, and say so (final)."""
        actor.state = state
        self.emit(
            StatusUpdate(
                instance_id=actor.request.instance_id,
                deployment_id=actor.request.deployment_id,
                state=state,
                at=time.time(),
                reason=reason,
                final=True,
            )
        )

    async def _host(
        self, actor: ProcessSupervisor, *, task_status: trio.TaskStatus[ActorRef | None]
    ) -> None:
        instance_id = actor.request.instance_id
        started = False
        try:
            async with trio.open_nursery() as nursery:
                ref = await spawn(nursery, actor, name=f"process:{instance_id}")
                task_status.started(ref)
                started = True
        except Exception as error:
            if isinstance(error, MonitorLost) or (
                isinstance(error, ExceptionGroup) and error.subgroup(MonitorLost)
            ):
                raise
            # A bug in one instance's supervision must not take the node down with it.
            logger.exception("supervisor of instance %s crashed", instance_id)
            actor.reason = f"internal error: {crash_reason(error)}"
            self._settle(actor, "failed", actor.reason)
            if not started:
                task_status.started(None)

    async def _launch(
        self, request: StartRequest, spec: JobSpec, **adoption: Any
    ) -> ProcessSupervisor:
        if self._nursery is None:
            if self.client.lost:  # went away mid-adoption: the next monitor adopts it
                raise MonitorLost("the node monitor went away")
            raise RuntimeError("start the manager first: await nursery.start(manager.run)")
        actor = ProcessSupervisor(
            request=request,
            spec=spec,
            client=self.client,
            node=self.node,
            emit=self.emit,
            **adoption,
        )
        self._instances[request.instance_id] = (None, actor)
        ref = await self._nursery.start(functools.partial(self._host, actor))
        if self._instances.get(request.instance_id, (None, None))[1] is not actor:
            # A stop arrived while the supervisor was starting: it found no ref to ask
            # and forgot the instance, so finish that stop here.
            with contextlib.suppress(ActorStopped):
                await _ask(ref, StopInstance(), timeout=spec.stop_timeout_seconds + 30.0)
                await ref.stop()
            return actor
        self._instances[request.instance_id] = (ref, actor)
        return actor

    async def stop_instance(self, instance_id: str) -> InstanceReport:
        """Stop an instance (stop signal, grace, SIGKILL to its whole tree) and forget it;
        one that ended for good is forgotten at once, its end left as reported."""
        self._stopping.add(instance_id)
        try:
            return await self._stop(instance_id)
        finally:
            self._stopping.discard(instance_id)

    async def _stop(self, instance_id: str) -> InstanceReport:
        while True:
            await self.wait_ready()
            entry = self._instances.get(instance_id)
            if entry is None:
                starting = self._starting.get(instance_id)
                if starting is None:
                    raise UnknownInstance(f"no instance {instance_id!r} on this node")
                await starting.wait()  # a start that came first: stop what it starts
                continue
            ref, actor = entry
            if instance_id in self.ended:
                # Ended for good, and the Conductor has its end (it stops only what it
                # has): forgotten without a word, its exit stays the last one reported.
                self._forget(instance_id, entry)
                return actor.report()
            generation = self._generation
            timeout = actor.spec.stop_timeout_seconds + 30.0
            try:
                report: InstanceReport = await _ask(ref, StopInstance(), timeout=timeout)
                if ref is not None:
                    await ref.stop()
                if self._generation != generation:
                    # The monitor was replaced after this stop was done, before the
                    # instance was forgotten: the re-adoption (this stop being under way)
                    # stops it rather than starting it again; finish with that copy.
                    await self.wait_ready()
                    if instance_id in self._instances:
                        continue
                break
            except ActorStopped:
                if actor.client.lost:
                    continue  # the monitor went away mid-stop: stop the re-adopted one
                # Its supervision crashed earlier: nothing runs any more.
                report = actor.report()
                if actor.state != "stopped":
                    self._settle(actor, "stopped", "stop requested")
                break
        self._forget(instance_id, entry)
        return report

    def _forget(self, instance_id: str, entry: tuple[ActorRef | None, ProcessSupervisor]) -> None:
        """Forget a stopped or ended instance entirely, but for its log files."""
        if self._instances.get(instance_id) is not entry:  # a concurrent stop was first
            return
        del self._instances[instance_id]
        self.ended.discard(instance_id)
        self.node.secrets.pop(instance_id, None)
        self.devices.release(instance_id)
        self.feed.forget(instance_id)
        try:
            self.store.delete(instance_id)
        except OSError as error:
            # Also called from emit (the bound): raised, it would crash the supervision
            # of the instance that just ended. Left behind, it is adopted and forgotten again.
            logger.warning("cannot delete the record of %s: %s", instance_id, error)
        ref = entry[0]
        if ref is not None and self._nursery is not None:
            self._nursery.start_soon(ref.stop)  # an ended one's supervisor is idle: it goes

    def _forget_oldest(self, instance_ids: Iterable[str]) -> None:
        """Past the bound of ended instances kept: the oldest go, confirmed or not."""
        for instance_id in instance_ids:
            entry = self._instances.get(instance_id)
            if entry is not None:
                self._forget(instance_id, entry)

    async def _reports(self) -> list[InstanceReport]:
        try:
            snapshot = Snapshot.take() if self._instances else None
        except OSError as error:
            # Out of descriptors, say: the list is what the hello and the Conductor need,
            # not CPU% and RSS. Raised, it failed a hello and ended the link (heartbeat).
            logger.warning("instance reports without CPU%% and RSS: cannot scan /proc: %s", error)
            snapshot = None
        reports = []
        for ref, actor in list(self._instances.values()):
            try:
                reports.append(await _ask(ref, GetReport(snapshot), timeout=10.0))
            except ActorStopped:
                reports.append(actor.report())
        return reports


async def _ask(ref: ActorRef | None, message: Any, *, timeout: float) -> Any:
    if ref is None:
        raise ActorStopped("the instance's supervisor never started")
    return await ref.ask(message, timeout=timeout)
