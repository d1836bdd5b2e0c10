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

The manager is built in layers, each a module: keeping a monitor serving
(:mod:`.monitorkeeper`), hosting, stopping and forgetting the instances' supervisors
(:mod:`.instancehost`), and who hears of their status updates (:mod:`.statusfeed`).
This module is the public face: starting an instance (its devices and record first),
what each status update means on the node, listing, adoption, logs.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

import trio

from ..container import detect_runtimes
from . import logfiles
from .adoption import take_over
from .client import MonitorLost
from .devices import DeviceLedger
from .ended import ENDED_KEPT
from .instancehost import InstanceExists as InstanceExists
from .instancehost import InstanceHost
from .instancehost import UnknownInstance as UnknownInstance
from .localstate import InstanceStore, SavedInstance
from .logstream import follow_file
from .nodecontext import NodeContext
from .records import (
    FINAL_STATES,
    InstanceReport,
    StartRequest,
    StatusUpdate,
)
from .redact import mask_text
from .restart import RESTART_JITTER
from .statusfeed import StatusFeed
from .stopall import StoppedInstance, stop_adopted, stop_each

if TYPE_CHECKING:
    from ..sources.prepare import SourcePreparer

logger = logging.getLogger(__name__)


class ProcessManager(InstanceHost):
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
        state_dir = os.path.abspath(state_dir)
        os.makedirs(state_dir, mode=0o700, exist_ok=True)
        devices = DeviceLedger(gpus)
        node = NodeContext(
            state_dir=state_dir,
            node_id=node_id,
            base_env=dict(os.environ if env is None else env),
            restart_jitter=restart_jitter,
            sources=sources,
            container_runtimes=dict(container_runtimes or {}),
            gpus=devices.devices,
        )
        super().__init__(
            state_dir=state_dir,
            node=node,
            devices=devices,
            store=InstanceStore(state_dir),
            feed=StatusFeed(on_status),
            ended_kept=ended_kept,
        )
        #: None: look for container runtimes when ``run`` starts (it takes a moment).
        self._detect_runtimes = container_runtimes is None
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

    async def _readopt(self) -> list[InstanceReport]:
        return await self.adopt()

    @property
    def container_runtimes(self) -> tuple[str, ...]:
        """The container runtimes this node has (``("podman",)``), for the hello."""
        return tuple(sorted(self.node.container_runtimes))

    # ---- status -----------------------------------------------------------------------
    def emit(self, update: StatusUpdate) -> None:
        """Act on a status update, as every supervisor's goes: release the devices and
        forget the secrets of an instance that ended for good, save its record, hand the
        update to the listeners (:mod:`.statusfeed`), then keep the instance until the
        Conductor has its end. The adoption reports so the runs that ended while no
        agent listened."""
        if update.final and update.state in FINAL_STATES:
            # Ended for good: the Conductor releases its gpu capacity on this very
            # update and may place another instance here at once.
            self.devices.release(update.instance_id)
            update = self._forget_secrets(update)
        self.feed.record(update)
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
        self.feed.publish(update)
        # Ended for good: kept until the Conductor has this end. The bound comes last: it
        # may forget this very instance (ended before all the others, by their times).
        ended = update.final and update.state in ("exited", "failed")
        if ended and update.instance_id in self._instances:
            self.note_ended(update.instance_id, update.at)

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
        return self.feed.subscribe(max_buffer)

    def events(self, instance_id: str) -> list[StatusUpdate]:
        """The last status updates of one instance, oldest first."""
        return self.feed.events(instance_id)

    @property
    def dropped_updates(self) -> int:
        """Status updates a slow subscriber lost."""
        return self.feed.dropped_updates

    # ---- instances --------------------------------------------------------------------
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
