"""Routing a node's reports to the supervisors of their deployments (a mixin of the
Deployments manager).

A node's :class:`InstancesReported` is split by deployment, one :class:`NodeReport`
each (a stop that overtook its start names no deployment the node knows: the store
says whose instance it was). A supervisor settles its part on the node link's window
once applied (see ``nodes/window.py``). Instances of a deployment that no longer
exists are orphans: the node is told to stop them, or to forget those that ended.

Who waits on whom: node news reaches the manager from the NodeRegistry's fan-out, so
routing a report to a busy supervisor delays only the manager, never the registry.
A change of instance states is *told* to each supervisor concerned, never waiting for a
full mailbox (``backlog.py``); a hello (the node's full list) is told to them all too,
and then waited for, all at once, each bounded by :data:`HELLO_APPLY_TIMEOUT` (told,
not asked: an ask's timeout covers waiting for room, so a part asked of a full mailbox
was lost for good past it), and only then does the Scheduler hear the node is ready
(:class:`NodeChanged`, handled after the hello that preceded it: ``drain_news.py``).
Node news reaches the Scheduler through the manager (the registry's one subscriber in
the Conductor) because of that ordering, which the two would otherwise race on: the
Scheduler never places new work on a returning node before its owners have seen what
it ran meanwhile, so an instance that finished during an outage is recorded, and its
replacement withdrawn, before the replacement could be placed on that very node.
Deployments that believe they run something on the node hear its full list even when
it holds nothing of theirs.
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from typing import TYPE_CHECKING, Any

import trio

from symphony.actors import ActorCrashed, ActorRef, ActorStopped
from symphony.wire import InstanceStatus, StopInstance
from symphony.wire.states import LIVE_STATES

from .commands import send_batched
from .instances import ended_by_itself, forget_ended, is_final_update
from .messages import NodeReport

if TYPE_CHECKING:
    from ..nodes.model import InstancesReported
    from ..store import Store
    from .backlog import Backlog

log = logging.getLogger("symphony.conductor.deployments")

#: How long the Scheduler's news of a node may wait, in total, for the supervisors
#: concerned to apply its hello (or act on an undrain), all asked at once: see the
#: module docstring.
HELLO_APPLY_TIMEOUT = 10.0


class ReportRouting:
    """Node reports, routed by :class:`~.manager.Deployments` (see the module docstring)."""

    if TYPE_CHECKING:  # provided by Deployments
        store: Store
        backlog: Backlog

        def child(self, name: str) -> ActorRef: ...
        async def tell_child(self, child: ActorRef, message: Any) -> None: ...

    async def _route(self, report: InstancesReported) -> None:
        by_deployment: dict[str, list[InstanceStatus]] = defaultdict(list)
        for update in report.updates:
            by_deployment[self._owner_of(update)].append(update)
        if report.full:
            # Deployments that believe they run something there must hear the full list
            # even when it holds nothing of theirs.
            there = self.store.list_instances(node_id=report.node_id, states=sorted(LIVE_STATES))
            for inst in there:
                by_deployment.setdefault(inst.deployment_id, [])
        applying: list[tuple[ActorRef, NodeReport, list[InstanceStatus]]] = []
        window = report.window  # each part is settled where it ends (see nodes/window.py)
        for deployment_id, updates in by_deployment.items():
            part = NodeReport(
                report.node_id, tuple(updates), report.full, report.session, window, report.groups
            )
            try:
                child = self.child(deployment_id)
            except KeyError:
                part.settle()
                await self._stop_orphans(report, updates)
                continue
            if report.full:
                applying.append((child, part, updates))
                continue
            try:
                await self.tell_child(child, part)  # settled once applied
            except ActorStopped:
                part.settle()
                await self._stop_orphans(report, updates)
        if applying:
            async with trio.open_nursery() as nursery:
                for child, message, updates in applying:
                    nursery.start_soon(self._apply_hello, report, child, message, updates)

    async def _apply_hello(
        self,
        report: InstancesReported,
        child: ActorRef,
        message: NodeReport,
        updates: list[InstanceStatus],
    ) -> None:
        """Hand a supervisor its part of a hello and wait, bounded, until it has applied
        it (see the module docstring)."""
        try:
            await self.tell_child(child, message)
        except ActorStopped:
            message.settle()  # never delivered
            await self._stop_orphans(report, updates)
            return
        try:
            with trio.move_on_after(HELLO_APPLY_TIMEOUT) as bound:
                await self.backlog.caught_up(child)
        except ActorCrashed as error:
            # Its supervisor (the manager) restarts it from the store; not our crash.
            log.warning("%r crashed applying %s's hello: %s", child, report.node_id, error)
        except ActorStopped:  # deleted meanwhile: its part was applied or dropped
            await self._stop_orphans(report, updates)
        else:
            if bound.cancelled_caught:
                log.warning("%r did not apply %s's hello in time", child, report.node_id)

    def _owner_of(self, update: InstanceStatus) -> str:
        """The deployment an update is about. A node that was told to stop an instance it
        never heard of (the stop overtook the start) cannot know its deployment."""
        with contextlib.suppress(KeyError):
            self.child(update.deployment_id)
            return update.deployment_id
        inst = self.store.get_instance(update.instance_id)
        return inst.deployment_id if inst is not None else update.deployment_id

    async def _stop_orphans(self, report: InstancesReported, updates: list[InstanceStatus]) -> None:
        """A node runs instances of a deployment that no longer exists: stop them."""
        if report.session is None:
            return
        stops = [
            StopInstance(instance_id=u.instance_id, reason="its deployment was deleted")
            for u in updates
            if not is_final_update(u)
        ]
        if stops:
            log.info("stopping %d orphan instance(s) on %s", len(stops), report.node_id)
        # Those that ended there by themselves: nothing is left to record of them.
        stops += forget_ended(u.instance_id for u in updates if ended_by_itself(u))
        # In frames of a bounded size: a node keeps up to 1,000 ended instances.
        await send_batched(report.session, stops)
