"""The node's process layer as one object: what the node's link calls.

Example::

    manager = ProcessManager(state_dir="/var/lib/symphony", node_id="gpu-1-a",
                             on_status=print)
    async with trio.open_nursery() as nursery:
        await nursery.start(manager.run)      # connects to (or starts) the node monitor
        await manager.adopt()                 # take over jobs from an earlier agent
        # ``job``: a symphony.wire.JobSpec, as the Conductor sends it in StartInstance
        await manager.start_instance(StartRequest(instance_id="web-0", spec=job))
        print(manager.tail("web-0", "stderr", 10))
        await manager.stop_instance("web-0")

Cancelling ``run`` (the agent shutting down or dying) leaves every job running under the
monitor; the next agent's :meth:`ProcessManager.adopt` picks them up.

If the monitor itself dies, ``run`` does not fail: it starts a new monitor (which takes
over the run records and verifies every pid with its start time) and re-adopts the
instances, as a new agent would. Meanwhile the manager's operations wait for it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import trio

from symphony.actors import ActorRef, ActorStopped, sole_exception, spawn
from symphony.errors import SymphonyError
from symphony.wire import JobSpec

from ..container import detect_runtimes
from . import logfiles
from .adoption import take_over
from .client import MonitorClient, MonitorLost, kill_all_jobs
from .devices import DeviceLedger
from .ended import ENDED_KEPT, EndedInstances
from .localstate import InstanceStore, SavedInstance
from .logstream import follow_file
from .proctree import Snapshot
from .records import (
    FINAL_STATES,
    InstanceReport,
    ProcessState,
    StartRequest,
    StatusUpdate,
)
from .redact import mask_text
from .restart import RESTART_JITTER
from .stopall import StoppedInstance, stop_adopted, stop_each
from .supervisor import GetReport, NodeContext, ProcessSupervisor, StopInstance

if TYPE_CHECKING:
    from ..sources.prepare import SourcePreparer

logger = logging.getLogger(__name__)
EVENTS_KEPT = 200  # status records kept per instance for ``events()``
#: Delays between attempts to bring up a replacement monitor (the last one repeats).
MONITOR_RETRY_DELAYS = (0.0, 0.1, 0.5, 1.0, 2.0, 5.0)


class InstanceExists(SymphonyError, ValueError):
    """An instance with this id is already on this node."""


class UnknownInstance(SymphonyError, LookupError):
    """No instance with this id on this node."""


class ProcessManager:
    """Starts, stops, lists and adopts this node's instances (see the module docstring)."""

    def __init__(
        self,
        *,
        state_dir: str,
        node_id: str,
        on_status: Callable[[StatusUpdate], None] | None = None,
        env: Mapping[str, str] | None = None,
        restart_jitter: float = RESTART_JITTER,
        sources: SourcePreparer | None = None,
        container_runtimes: Mapping[str, str] | None = None,
        gpus: Iterable[str] = (),
        ended_kept: int = ENDED_KEPT,
    ) -> None:
        self.state_dir = os.path.abspath(state_dir)
        os.makedirs(self.state_dir, mode=0o700, exist_ok=True)
        #: Who holds which GPU device (``gpus``: the node's device ids).
        self.devices = DeviceLedger(gpus)
        self.node = NodeContext(
            state_dir=self.state_dir,
            node_id=node_id,
            base_env=dict(os.environ if env is None else env),
            restart_jitter=restart_jitter,
            sources=sources,
            container_runtimes=dict(container_runtimes or {}),
            gpus=self.devices.devices,
        )
        #: None: look for container runtimes when ``run`` starts (it takes a moment).
        self._detect_runtimes = container_runtimes is None
        self.client = MonitorClient(self.state_dir)
        self.store = InstanceStore(self.state_dir)
        self._on_status = on_status
        self._subscribers: list[trio.MemorySendChannel[StatusUpdate]] = []
        self._instances: dict[str, tuple[ActorRef | None, ProcessSupervisor]] = {}
        self._events: dict[str, deque[StatusUpdate]] = {}
        #: Ended for good, kept until the Conductor has their end (see :mod:`.ended`).
        self.ended = EndedInstances(ended_kept)
        self._nursery: trio.Nursery | None = None
        self._ready = trio.Event()  # set while a monitor serves us
        self._generation = 0  # monitors lost so far
        self._lost_client: MonitorClient | None = None
        #: The instances as they were when the last monitor was lost (see list_instances).
        self._known: list[InstanceReport] = []
        self._closing = False
        #: Instances a stop is under way for: re-adopted with their stop requested, so a
        #: monitor replacement mid-stop never starts or restarts them.
        self._stopping: set[str] = set()
        #: Starts under way, set when each is done: a stop that finds no instance waits
        #: for the start before it (both may wait for a monitor and wake in any order).
        self._starting: dict[str, trio.Event] = {}
        self.monitors_replaced = 0
        self.dropped_updates = 0
        #: Set by :meth:`stop_instances`: the node is ending, and starts nothing new.
        self.stopping_all = False

    async def run(
        self, *, task_status: trio.TaskStatus[ProcessManager] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Serve until cancelled; ``nursery.start(manager.run)`` returns when ready.

        A monitor that cannot be reached at first fails ``run``; one lost later is
        replaced (see the module docstring).
        """
        if self._detect_runtimes:
            base_env = self.node.base_env
            found = await trio.to_thread.run_sync(detect_runtimes, base_env)
            self.node = dataclasses.replace(self.node, container_runtimes=found)
            self._detect_runtimes = False
        try:
            await self._run(task_status)
        finally:
            self.store.close()  # the records stay; a later save opens their file again

    async def _run(self, task_status: trio.TaskStatus[ProcessManager]) -> None:
        attempt = 0
        while True:
            lost = False
            try:
                await self._serve(task_status if self._generation == 0 else None)
            except* MonitorLost as group:
                if self._generation == 0 and not self._ready.is_set():
                    raise  # never had a monitor: the node cannot run jobs, say so
                lost = True
                logger.warning(
                    "the node monitor went away (%s): starting a new one and re-adopting the jobs",
                    sole_exception(group) or group.exceptions[0],
                )
            if not lost or self._closing:
                return
            self._lost_monitor(self.client)  # if nothing noticed before
            # Back off only while replacements keep failing; a monitor that served us
            # starts the sequence over.
            attempt = 0 if self.client.ready else attempt + 1
            await trio.sleep(MONITOR_RETRY_DELAYS[min(attempt, len(MONITOR_RETRY_DELAYS) - 1)])
            if self._closing:
                return  # shut down meanwhile: a new monitor would restart the jobs

    async def _serve(self, task_status: trio.TaskStatus[ProcessManager] | None) -> None:
        replacing = task_status is None
        client = self.client = MonitorClient(
            self.state_dir, on_lost=lambda: self._lost_monitor(client)
        )
        async with trio.open_nursery() as nursery:
            await nursery.start(self.client.run)
            # The supervisors live in their own nursery so that shutdown_monitor() can end
            # them before the monitor goes (else they would see it vanish mid-request).
            async with trio.open_nursery() as supervisors:
                self._nursery = supervisors
                if replacing:
                    try:
                        reports = await self.adopt()
                    except OSError as error:
                        # The records or /proc cannot be read just now (out of descriptors,
                        # as often as not what killed the monitor): lost like a monitor that
                        # cannot start, tried again with backoff, rather than the agent exiting.
                        raise MonitorLost(f"the jobs could not be re-adopted: {error}") from error
                    if client.lost:  # gone again meanwhile: not ready, the next one adopts
                        raise MonitorLost("the node monitor went away during the adoption")
                    self.monitors_replaced += 1
                    logger.warning("new node monitor up; re-adopted %d instance(s)", len(reports))
                self._ready.set()
                client.ready = True
                if task_status is not None:
                    task_status.started(self)
                await trio.sleep_forever()

    @property
    def container_runtimes(self) -> tuple[str, ...]:
        """The container runtimes this node has (``("podman",)``), for the hello."""
        return tuple(sorted(self.node.container_runtimes))

    def _lost_monitor(self, client: MonitorClient) -> None:
        """The supervisors go with the monitor: forget them until re-adopted (once per
        monitor; called by the client the moment it notices)."""
        if self._lost_client is client:
            return
        self._lost_client = client
        # A new Event only if the old one was set: callers already waiting on an unset
        # one (a replacement that itself was lost before serving) must be woken by
        # whichever replacement finally serves, not stranded on a discarded Event.
        if self._ready.is_set():
            self._ready = trio.Event()
            self._known = [actor.report() for _, actor in self._instances.values()]
        self._generation += 1
        self._nursery = None
        self._instances.clear()
        self.ended.clear()  # noted again as the new monitor's adoption settles them

    @property
    def ready(self) -> bool:
        """False while a lost monitor is being replaced: operations wait for the new one."""
        return self._ready.is_set()

    async def wait_ready(self) -> None:
        """Wait while a lost monitor is being replaced; on return a monitor serves (the
        wait yields even when set: the monitor may be lost again before it returns)."""
        while True:
            await self._ready.wait()
            if self._ready.is_set():
                return

    # ---- status -----------------------------------------------------------------------
    def _settle(self, actor: ProcessSupervisor, state: ProcessState, reason: str) -> None:
        """Settle an instance whose supervision is over in ``state``, and say so (final)."""
        actor.state = state
        self._emit(
            StatusUpdate(
                instance_id=actor.request.instance_id,
                deployment_id=actor.request.deployment_id,
                state=state,
                at=time.time(),
                reason=reason,
                final=True,
            )
        )

    def _emit(self, update: StatusUpdate) -> None:
        if update.final and update.state in FINAL_STATES:
            # Ended for good: the Conductor releases its gpu capacity on this very
            # update and may place another instance here at once.
            self.devices.release(update.instance_id)
            update = self._forget_secrets(update)
        self._events.setdefault(update.instance_id, deque(maxlen=EVENTS_KEPT)).append(update)
        entry = self._instances.get(update.instance_id)
        if update.state in ("exited", "failed", "starting") and entry is not None:
            # Settled only by a final update: an agent that dies while a restart waits
            # for its backoff must leave the instance to be started again, not settled.
            # The outcome (last exit, restarts) is kept either way.
            settled = update.final and update.state != "starting"
            try:
                self.store.save(
                    entry[1].request,
                    final_state=update.state if settled else None,
                    outcome=entry[1].outcome(),
                )
            except OSError as error:
                # The record is for the next agent's adoption; this update goes on. Raised,
                # it crashed the instance's supervision, then the agent (a full disk).
                logger.warning("cannot save the record of %s: %s", update.instance_id, error)
        if self._on_status is not None:
            self._on_status(update)
        for channel in list(self._subscribers):
            try:
                channel.send_nowait(update)
            except trio.WouldBlock:
                self.dropped_updates += 1  # a slow subscriber loses updates, never blocks us
            except (trio.BrokenResourceError, trio.ClosedResourceError):
                self._subscribers.remove(channel)
        # Ended for good: kept until the Conductor has this end. The bound comes last: it
        # may forget this very instance (ended before all the others, by their times).
        ended = update.final and update.state in ("exited", "failed")
        if ended and update.instance_id in self._instances:
            self._forget_oldest(self.ended.add(update.instance_id, update.at))

    def _forget_secrets(self, update: StatusUpdate) -> StatusUpdate:
        """No run of an instance that ended for good starts again: its secret values go
        (it stays listed until the Conductor has its end, see :mod:`.ended`). The reason
        that the hellos until then report again is masked with them one last time."""
        held = self.node.secrets.pop(update.instance_id, None)
        if not held or not update.reason:
            return update
        reason = mask_text(update.reason, held.values())
        entry = self._instances.get(update.instance_id)
        if entry is not None and entry[1].reason == update.reason:
            entry[1].reason = reason
        return dataclasses.replace(update, reason=reason)

    def subscribe(self, max_buffer: int = 4096) -> trio.MemoryReceiveChannel[StatusUpdate]:
        """A channel receiving every status update from now on (dropped when full)."""
        send, receive = trio.open_memory_channel[StatusUpdate](max_buffer)
        self._subscribers.append(send)
        return receive

    def events(self, instance_id: str) -> list[StatusUpdate]:
        """The last status updates of one instance, oldest first."""
        return list(self._events.get(instance_id, ()))

    # ---- instances --------------------------------------------------------------------
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
            actor.reason = f"internal error: {error!r}"
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
            emit=self._emit,
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

    async def start_instance(self, request: StartRequest) -> InstanceReport:
        """Start one instance; raises InstanceExists, or ValueError for an unusable
        instance id. The spec is run as it is: the wire decoder checked it."""
        if not isinstance(request, StartRequest):
            raise TypeError(f"start_instance takes a StartRequest, not {type(request).__name__}")
        instance_id = logfiles.check_instance_id(request.instance_id)
        if instance_id in self._starting:  # the same start again: the first decides
            await self._starting[instance_id].wait()
            return await self._start(request, instance_id)
        done = self._starting[instance_id] = trio.Event()
        try:
            return await self._start(request, instance_id)
        finally:
            del self._starting[instance_id]
            done.set()

    async def _start(self, request: StartRequest, instance_id: str) -> InstanceReport:
        spec = request.spec
        await self.wait_ready()
        if instance_id in self._instances:
            raise InstanceExists(f"instance {instance_id!r} already exists on this node")
        # Raises NotEnoughDevices (a ValueError) rather than share a device.
        request = dataclasses.replace(request, devices=self.devices.take(instance_id, request.gpus))
        client = self.client
        try:
            self.store.save(request)
            actor = await self._launch(request, spec)
        except OSError:  # its record cannot be written (a full disk): it never started
            self.devices.release(instance_id)
            raise
        except (MonitorLost, RuntimeError):
            if not client.lost:
                self.devices.release(instance_id)
                raise
            # The monitor went away mid-start: the saved request makes the re-adoption
            # start it (once), so there is nothing left to do here.
            await self.wait_ready()
            entry = self._instances.get(instance_id)
            if entry is None:
                raise UnknownInstance(f"instance {instance_id!r} was stopped meanwhile") from None
            return entry[1].report()
        return actor.report()

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
        self._events.pop(instance_id, None)
        try:
            self.store.delete(instance_id)
        except OSError as error:
            # Also called from _emit (the bound): raised, it would crash the supervision
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

    def live_requests(self) -> list[StartRequest]:
        """The start requests of the instances that have not ended (what the relay checks
        a port against: only ports of this node's own experiments are ever relayed)."""
        ended = ("exited", "failed", "stopped")
        return [sup.request for _, sup in self._instances.values() if sup.state not in ended]

    async def list_instances(self, *, patience: float | None = None) -> list[InstanceReport]:
        """A report per instance, with CPU% and RSS of each running job's process tree.

        While a lost monitor is replaced (the list would be empty) it waits for the new
        one; ``patience`` seconds at most if given, then it gives each instance as it was
        when the monitor was lost, no CPU% or RSS (a hello: the jobs still run).
        """
        with trio.move_on_after(float("inf") if patience is None else patience):
            await self.wait_ready()
        if not self._ready.is_set():
            logger.warning(
                "node monitor not replaced yet: %d instance(s) as last known", len(self._known)
            )
            return list(self._known)
        return await self._reports()

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

    async def adopt(self, records: Iterable[SavedInstance] | None = None) -> list[InstanceReport]:
        """Take over the instances of an earlier agent (call once, right after ``run``):
        ``records``, as the caller read them, or the records read now."""
        await take_over(self, self.store.load_all() if records is None else records)
        return await self._reports()

    async def stop_all(
        self, records: Sequence[SavedInstance] | None = None
    ) -> list[StoppedInstance]:
        """Take over what an earlier agent left and stop all of it (``symphony node stop``).

        Call it instead of :meth:`adopt`. Every saved instance is re-adopted with its stop
        already requested, then all are stopped at once (see :mod:`.stopall`). Runs no
        instance owns get SIGKILL (as in :meth:`adopt`). Returns what became of each, by
        instance id; their records are gone afterwards.

        ``records`` is what the caller read of the instance records (else they are read
        now): read once, so that what is marked to stop is what is adopted, and what the
        caller said it would stop is what is stopped.
        """
        if records is None:
            records = self.store.load_all()
        self._stopping.update(s.request.instance_id for s in records)
        return await stop_adopted(self, records)

    async def stop_instances(self) -> None:
        """Stop every instance at once, each as a stop from the Conductor does it: the
        orderly end of a node going away with its jobs (``symphony up`` stopping; see
        :mod:`.stopall`). Sets :attr:`stopping_all` first, so the caller starts nothing
        new meanwhile; what cannot be stopped so is left to :meth:`shutdown_monitor`.
        """
        self.stopping_all = True
        await stop_each(self, sorted(self._instances))

    # ---- logs -------------------------------------------------------------------------
    def tail(self, instance_id: str, stream: str = "stdout", n: int = 100) -> list[str]:
        """The last ``n`` lines of an instance's stdout or stderr (running or not)."""
        path = logfiles.log_path(self.state_dir, instance_id, stream)
        entry = self._instances.get(instance_id)
        backups = entry[1].spec.log_backups if entry else 5
        return logfiles.tail_lines(path, n, backups=backups)

    def follow(
        self,
        instance_id: str,
        stream: str = "stdout",
        *,
        from_start: bool = False,
        poll_interval: float = 0.2,
    ) -> AsyncIterator[str]:
        """New lines of an instance's stdout or stderr as they are written, until cancelled."""
        path = logfiles.log_path(self.state_dir, instance_id, stream)
        return follow_file(path, from_start=from_start, poll_interval=poll_interval)

    async def shutdown_monitor(self, *, kill_jobs: bool = True) -> None:
        """Stop the node monitor, by default killing every job first (tests, node removal).

        The instances' supervisors end first; the manager accepts no new instance after.
        """
        self._closing = True
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()
            self._nursery = None
        try:
            await self.client.shutdown(kill_jobs=kill_jobs)
        except MonitorLost:
            # It died just now: its jobs still run, and no replacement comes once closing.
            if kill_jobs:
                await kill_all_jobs(self.state_dir)


async def _ask(ref: ActorRef | None, message: Any, *, timeout: float) -> Any:
    if ref is None:
        raise ActorStopped("the instance's supervisor never started")
    return await ref.ask(message, timeout=timeout)
