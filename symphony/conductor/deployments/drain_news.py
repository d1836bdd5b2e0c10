"""A node's news for the Scheduler and the supervisors: ready, gone, drained or undrained
(a mixin of the Deployments manager).

A :class:`NodeChanged` is handled after the hello that preceded it was applied (see
``report_routing.py``), so the Scheduler hears a node is ready only once its owners
have seen what it ran meanwhile.

Draining: when a node starts or stops being drained (a :class:`NodeChanged` saying so),
every supervisor is told the nodes being drained now (:class:`DrainingChanged`). A drain
reaches the Scheduler first, so a replacement is never placed on a draining node. An
undrain reaches the supervisors first: those with instances on the node are then asked
:class:`Caught`, all at once and bounded in total, so each has withdrawn the
replacements it no longer needs (those still waiting to be placed) before the Scheduler
hears the node takes work again, else it would place them there only for them to be
stopped at once. The Scheduler hears of it even if that failed.
Known from the store at start, the set survives a restart. What a supervisor does
about draining nodes is ``draining.py``.

Who waits on whom: the manager *tells* the Scheduler and every supervisor (down), and
on an undrain *asks* the concerned supervisors, bounded by one
:data:`~.report_routing.HELLO_APPLY_TIMEOUT` in total: a slow or crash-looping
supervisor, or one of a deployment with nothing there, must not hold up the manager.
"""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

import trio

from symphony.actors import ActorCrashed, ActorRef, ActorStopped
from symphony.wire.states import LIVE_STATES

from .messages import DrainingChanged
from .report_routing import HELLO_APPLY_TIMEOUT

if TYPE_CHECKING:
    from ..nodes.model import NodeChanged
    from ..store import Store
    from .backlog import Backlog

log = logging.getLogger("symphony.conductor.deployments")


class DrainNews:
    """Node news, passed on by :class:`~.manager.Deployments` (see the module docstring)."""

    if TYPE_CHECKING:  # provided by Deployments
        store: Store
        scheduler: ActorRef
        _draining: frozenset[str]
        backlog: Backlog

        def child(self, name: str) -> ActorRef: ...
        async def tell_child(self, child: ActorRef, message: Any) -> None: ...

    async def _node_changed(self, message: NodeChanged) -> None:
        """Pass a node's news on: to the Scheduler first, but to the supervisors first
        (and bounded) when the node is undrained."""
        node_id = message.view.node_id
        if node_id in self._draining and not message.view.draining:
            try:
                await self._drain_news(message)  # undrained: supervisors first, asked
            finally:  # even if that failed: else the node would never take work
                await self.scheduler.tell(message)
        else:
            await self.scheduler.tell(message)
            await self._drain_news(message)

    async def _drain_news(self, message: NodeChanged) -> None:
        """Tell every supervisor the nodes being drained, when that set changed; on an
        undrain, wait until those it concerns have acted on it (see the module
        docstring).

        Told to every supervisor (a tell always arrives), then only the supervisors
        with live instances on the node (the only ones with replacements to withdraw)
        are asked :class:`Caught`, all at once and within one bound in total: a slow
        or crash-looping supervisor, or one of a deployment with nothing there, must
        not hold up the manager, which handles no create or hello meanwhile."""
        node_id = message.view.node_id
        if message.view.draining == (node_id in self._draining):
            return
        self._draining = self._draining ^ {node_id}
        news = DrainingChanged(self._draining)
        concerned: set[str] = set()
        if not message.view.draining:
            there = self.store.list_instances(node_id=node_id, states=sorted(LIVE_STATES))
            concerned = {i.deployment_id for i in there}
        asking: list[ActorRef] = []
        for record in self.store.list_deployments():  # each child is named by its id
            with contextlib.suppress(KeyError, ActorStopped):
                child = self.child(record.id)
                await self.tell_child(child, news)
                if record.id in concerned:
                    asking.append(child)
        if asking:  # their withdrawals are then queued before the Scheduler's news
            waiting = set(asking)
            with trio.move_on_after(HELLO_APPLY_TIMEOUT):
                async with trio.open_nursery() as nursery:
                    for child in asking:
                        nursery.start_soon(self._caught_up, child, node_id, waiting)
            for child in waiting:
                log.warning("%r did not act on %s's undrain in time", child, node_id)

    async def _caught_up(self, child: ActorRef, node_id: str, waiting: set[ActorRef]) -> None:
        """Wait until ``child`` handled what it was told (the caller bounds it all), then
        take it out of ``waiting``."""
        try:
            await self.backlog.caught_up(child)
        except ActorCrashed as error:  # its supervisor (the manager) restarts it
            log.warning("%r crashed acting on %s's undrain: %s", child, node_id, error)
        except ActorStopped:
            pass  # deleted meanwhile: nothing of it to withdraw
        waiting.discard(child)
