"""Keeping a node monitor: the agent's connection to it, and a new one when it is lost.

The node monitor owns every job; the agent only talks to it (:mod:`.client`). A
:class:`MonitorKeeper` keeps one monitor serving for as long as it runs: it connects to
(or starts) the monitor, and when that monitor goes away it does not fail but starts a
new one, which takes over the run records and verifies every pid with its start time,
then re-adopts the instances as a new agent would. Only a monitor that cannot be
reached at first fails it (the node cannot run jobs: it says so). Replacements that
keep failing back off (:data:`MONITOR_RETRY_DELAYS`); one that served starts over.

While a monitor is being replaced, :attr:`MonitorKeeper.ready` is False and
:meth:`MonitorKeeper.wait_ready` waits; every lost monitor adds one to
``_generation``, so an operation that awaited across a loss can tell.

It is the base of :class:`~symphony.node.process.manager.ProcessManager`, which says
what a loss and a replacement mean for the instances through two hooks:
:meth:`MonitorKeeper._supervisors_lost` (the supervisors went with the monitor) and
:meth:`MonitorKeeper._readopt` (take the jobs over from the new one).
"""

from __future__ import annotations

import logging
from typing import Self

import trio

from symphony.actors import sole_exception

from .client import MonitorClient, MonitorLost, kill_all_jobs
from .records import InstanceReport

logger = logging.getLogger(__name__)
#: Delays between attempts to bring up a replacement monitor (the last one repeats).
MONITOR_RETRY_DELAYS = (0.0, 0.1, 0.5, 1.0, 2.0, 5.0)


class MonitorKeeper:
    """Keeps a node monitor serving (see the module docstring)."""

    def __init__(self, state_dir: str) -> None:
        self.state_dir = state_dir
        self.client = MonitorClient(self.state_dir)
        #: The supervisors' nursery while a monitor serves (None while it is replaced).
        self._nursery: trio.Nursery | None = None
        self._ready = trio.Event()  # set while a monitor serves us
        self._generation = 0  # monitors lost so far
        self._lost_client: MonitorClient | None = None
        self._closing = False
        self.monitors_replaced = 0

    # ---- what the owner says a loss and a replacement mean ------------------------------
    def _supervisors_lost(self, was_ready: bool) -> None:
        """The monitor was just lost (``was_ready``: it served until now): its
        supervisors went with it, forget them until re-adopted."""
        raise NotImplementedError

    async def _readopt(self) -> list[InstanceReport]:
        """Take the jobs over from a new monitor; returns what was adopted."""
        raise NotImplementedError

    # ---- keeping one serving ------------------------------------------------------------
    async def _run(self, task_status: trio.TaskStatus[Self]) -> None:
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

    async def _serve(self, task_status: trio.TaskStatus[Self] | None) -> None:
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
                        reports = await self._readopt()
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

    def _lost_monitor(self, client: MonitorClient) -> None:
        """The supervisors go with the monitor: forget them until re-adopted (once per
        monitor; called by the client the moment it notices)."""
        if self._lost_client is client:
            return
        self._lost_client = client
        # A new Event only if the old one was set: callers already waiting on an unset
        # one (a replacement that itself was lost before serving) must be woken by
        # whichever replacement finally serves, not stranded on a discarded Event.
        was_ready = self._ready.is_set()
        if was_ready:
            self._ready = trio.Event()
        self._generation += 1
        self._nursery = None
        self._supervisors_lost(was_ready)

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
