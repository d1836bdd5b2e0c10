"""How the NodeRegistry declares quiet nodes lost (a mixin of it).

``node_timeout`` is the Conductor's ``node_timeout_sec`` when set, else 5 x the node's
own heartbeat interval. A sweep finds nodes that went quiet: a background timer sleeps
until the earliest deadline and then tells the registry :class:`_SweepDue`; the registry
decides from its state *at that moment* (a node that said hello again meanwhile has a
new deadline and is left alone). Nothing else in the registry polls.

Silence the Conductor caused is not the node's: when the sweep runs more than
:data:`STALL_SEC` after its alarm (the Conductor was too busy to run it, so it was also
too busy to read heartbeats: a reconnect storm, a starved machine), a node whose deadline
passed meanwhile is not declared lost; its silence counts again from that moment (a new
deadline one node timeout away). A node whose link dropped while the Conductor was
strained has until twice the sweep's lateness after the late sweep (at most
:data:`~.registry.RESTART_GRACE_SEC`) to come back: its retries were turned away or
timed out meanwhile, so its reconnect backoff (which doubles) grew past its node timeout.
Likewise the nodes the store expects after a restart (:class:`~.model.ExpectNodes`, told
once the Conductor has started) have their grace counted from when the Conductor is
ready, not from when the registry was created.

A node declared lost loses its session (told to close) and its usage history; its
subscribers hear :class:`~.model.NodeChanged`, and its instances are replaced.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from symphony.actors import ActorStopped, MailboxFull

from .model import CloseSession

if TYPE_CHECKING:
    from symphony.actors import ActorRef

    from .model import NodeState
    from .record import NodeRecord
    from .usage import UsageHistory

log = logging.getLogger("symphony.conductor.nodes")


#: A sweep this late after its alarm means the Conductor itself could not keep up.
STALL_SEC = 1.0


@dataclass(frozen=True, slots=True)
class _SweepDue:
    """From the registry's own timer: the earliest node deadline (``due_at``) has passed."""

    due_at: float


def liveness_timeout(node_timeout_sec: float | None, heartbeat_sec: float) -> float:
    """How long a node may stay quiet (or disconnected) before it is declared lost."""
    return node_timeout_sec or 5.0 * heartbeat_sec


class LivenessSweep:
    """The sweep of :class:`~.registry.NodeRegistry` (see the module docstring)."""

    if TYPE_CHECKING:  # provided by NodeRegistry
        restart_grace_sec: float
        usage: UsageHistory
        _nodes: dict[str, NodeRecord]
        _strain_grace: float
        _sweep_at: float
        _alarm_moved: trio.Event

        @property
        def ref(self) -> ActorRef: ...
        def timeout_for(self, heartbeat_sec: float) -> float: ...
        def _set_state(self, node: NodeRecord, state: NodeState, reason: str) -> None: ...
        def _apply_beats(self) -> None: ...

    def _set_alarm(self, at: float) -> None:
        self._sweep_at = at
        moved, self._alarm_moved = self._alarm_moved, trio.Event()
        moved.set()

    def _wake_sweep(self, deadline: float) -> None:
        # Only a deadline earlier than the timer's alarm moves it. Moving it for every
        # hello made each connect O(nodes): a reconnect storm of N nodes, O(N^2).
        if deadline < self._sweep_at:
            self._set_alarm(deadline)

    async def _timer(self) -> None:
        """Background: sleep until the alarm, then tell the registry to sweep.

        It only reads the alarm; the registry moves it (and wakes this task) while
        handling messages, so the decision is always taken on the current state.
        """
        while True:
            at, moved = self._sweep_at, self._alarm_moved
            with trio.move_on_at(at):
                await moved.wait()
                continue  # the alarm moved: sleep until the new one
            await self.ref.tell(_SweepDue(at))
            await moved.wait()  # the sweep sets the next alarm

    def _sweep(self, due_at: float) -> None:
        """Declare lost the nodes whose deadline passed; set the alarm to the next one.

        A late sweep (see the module docstring) gives those nodes a new deadline instead.
        """
        self._apply_beats()  # heartbeats that arrived in time count
        now = trio.current_time()
        stalled = now - due_at > STALL_SEC
        if stalled:
            late = now - due_at
            grace = now + min(self.restart_grace_sec, 2 * late)
            self._strain_grace = max(self._strain_grace, grace)
            log.warning("the Conductor was %.1f s late checking node liveness", late)
        # A link that dropped during a strain: its node's backoff may have grown past
        # its timeout while it was turned away (see the module docstring).
        strain_grace = self._strain_grace
        for node in self._nodes.values():
            if node.state != "lost" and node.deadline <= now:
                if stalled:
                    node.deadline = now + self.timeout_for(node.fixed.heartbeat_sec)
                elif node.state == "disconnected" and strain_grace > now:
                    node.deadline = strain_grace
                else:
                    self._declare_lost(node)
        deadlines = [n.deadline for n in self._nodes.values() if n.state != "lost"]
        self._set_alarm(min(deadlines, default=now + 3600.0))

    def _declare_lost(self, node: NodeRecord) -> None:
        timeout = self.timeout_for(node.view.heartbeat_sec)
        if node.state == "ready":
            reason = f"no heartbeat for {timeout:g} s"
        else:
            reason = f"not reconnected within {timeout:g} s"
        session, node.session = node.session, None
        self.usage.drop_node(node.view.node_id)
        self._set_state(node, "lost", reason)
        if session is not None:
            try:
                session.tell_nowait(CloseSession(f"node declared lost: {reason}"))
            except (ActorStopped, MailboxFull):
                # Gone already, or busy: a busy session notices its link is dead soon.
                log.debug("could not tell session of %r to close", node.view.node_id)
