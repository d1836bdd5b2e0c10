"""What the Deployments manager tells a supervisor too busy to take it now: it waits here.

Why: the manager handles every create, change and delete of the API and every node
report, one at a time. A DeploymentSupervisor can be slow: while handling one message
it may wait on the Scheduler's mailbox, the NodeRegistry (``GetSession``), a node's
session (a node that stops reading holds each send up to its link's stall bound, 10 s)
or the store's group commit. Its bounded mailbox then fills, and a blocking ``tell``
into it would hold the manager, and with it every other deployment, until it drained.

So the manager never waits for a supervisor's mailbox. It delivers at once
(``tell_nowait``) when the mailbox has room and nothing waits here for it; else the
message waits here, in order behind the others for that supervisor, and one background
task per supervisor with something waiting delivers them with a blocking ``tell`` (as
the :class:`~symphony.conductor.fanout.LosslessFanout` does for news going up; the
task touches only this queue, never the manager's own state).

Nothing that matters is lost while the supervisor lives: every message is delivered,
in the order it was sent, except that a newer message of the same kind *coalesces*
with the one still waiting. Where the merged message goes follows from what else in
the queue depends on it:

- a full snapshot that nothing else in the queue changes takes the **waiting one's
  place**: what was queued between the two was sent under the older snapshot, and must
  not reach the supervisor before it (a :class:`FireRun` seeing the spec from before
  the change that gave the deployment its schedule would be dropped); it sees the newer
  one instead, which is what a restarted supervisor would read from the store.

  - :class:`SpecChanged`: the newer record (the whole spec as stored), a new roll if
    either started one (the one standing in for both must not let a failure of the
    roll before them apply to the roll after), and a fresh start if either asked one.
    Only changes with the same desired state merge: a stop or a start is delivered
    as such (queued after the last change of its kind), since the supervisor acts on
    the change from the record it holds to the one it is told (a stop then a start
    restarts what ran and starts afresh: failure cleared, attempts reset; merged, it
    would see running to running, and restart nothing). So at most one change waits
    per stop or start in between;
  - :class:`DrainingChanged`: the newer set of draining nodes.

- the others go **at the end**, after what was queued since the waiting one:

  - :class:`RestartDue`: the newer; :class:`FireRun`: the newer, as a catch-up that
    counts the times it stands in for (``skipped``). An event acts under the spec of
    its time: the newer one may have been fired under a change queued since;
  - a hello's part (a :class:`NodeReport` with the node's full list), per node: the
    newer list supersedes the older one, which is settled off its link's window. Not
    in the older one's place: the node's reports of instance changes queued since are
    older than the newer list, and would undo it.

Bounded: per supervisor at most one message of each kind above (one hello per node;
one spec change per stop or start in between), plus node reports of instance changes,
which are never merged (each update counts) and stay counted on their link's window
until applied, so a link whose reports wait here soon stops reading
(``nodes/window.py``). The window lets a link read on after 10 s without a settle,
though, so past :data:`MAX_WAITING` waiting for one supervisor the manager waits for
room before queueing another report (or a stop or start that would wait as one more),
as it always did before: only a node that keeps flooding one stuck deployment with
reports, or a client that keeps stopping and starting it, gets there.

A supervisor that stopped for good (deleted) gets nothing more: what waited for it is
dropped, and each dropped message with a ``dropped_unread`` hook is told, as a closing
mailbox does (a report is settled off its window; its instances are being stopped by
the deployment's teardown).

An ask that must come after what was told (``Caught``, once a hello or an undrain was
told) first waits for the queue here to empty: :meth:`Backlog.caught_up`.
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import replace
from typing import Any

import trio

from symphony.actors import ActorRef, ActorStopped, MailboxFull

from .messages import (
    Caught,
    DrainingChanged,
    FireRun,
    NodeReport,
    RestartDue,
    SpecChanged,
)

log = logging.getLogger("symphony.conductor.deployments")

#: Messages that may wait here for one supervisor before a report waits for room.
MAX_WAITING = 256


#: The kinds whose merged message takes the waiting one's place (see the docstring).
_IN_PLACE = (SpecChanged, DrainingChanged)


def _kind(message: Any) -> Hashable | None:
    """What a newer message supersedes when one of the same kind waits (None: nothing)."""
    if isinstance(message, SpecChanged | DrainingChanged | FireRun | RestartDue):
        return type(message).__name__
    if isinstance(message, NodeReport) and message.full:
        return ("hello", message.node_id)
    return None


def _last_of_kind(queue: deque[Any], kind: Hashable) -> int | None:
    """Where the last message of ``kind`` waits. The last: two spec changes wait at once
    only across a stop or a start, and a change merged into the earlier one would
    overtake it."""
    return next((i for i in reversed(range(len(queue))) if _kind(queue[i]) == kind), None)


def _mergeable(waiting: Any, new: Any) -> bool:
    """Whether ``new`` may stand in for ``waiting`` (see the module docstring)."""
    if isinstance(new, SpecChanged):
        # A stop or a start is never merged away: the supervisor must see each (a stop
        # then a start restarts what ran; merged, it would see running to running).
        return bool(waiting.record.spec.desired_state == new.record.spec.desired_state)
    return True


def _merge_target(queue: deque[Any], message: Any) -> int | None:
    """Where the waiting message ``message`` would stand in for is, if any."""
    kind = _kind(message)
    i = None if kind is None else _last_of_kind(queue, kind)
    return i if i is not None and _mergeable(queue[i], message) else None


def _merged(waiting: Any, new: Any) -> Any:
    """``new`` standing in for ``waiting`` (see the module docstring)."""
    if isinstance(new, SpecChanged):
        return SpecChanged(
            new.record,
            waiting.fresh_start or new.fresh_start,
            waiting.new_roll or new.new_roll,
        )
    if isinstance(new, FireRun):
        return replace(new, catch_up=True, skipped=waiting.skipped + new.skipped + 1)
    if isinstance(new, NodeReport):
        waiting.settle()  # superseded: its updates are off the window now
    return new


def _dropped(messages: Iterable[Any]) -> None:
    """Tell each message dropped unread that wants to know. A hook that fails is logged,
    never raised: the cleanup after it must go on (the others told, whoever waits for
    the queue woken), and the manager must not crash for it."""
    for message in messages:
        hook = getattr(message, "dropped_unread", None)
        if callable(hook):
            try:
                hook()
            except Exception:
                log.exception("dropped_unread() of a %s failed", type(message).__name__)


class Backlog:
    """Per-supervisor queues of what waits for room (see the module docstring).

    Call :meth:`send` only from the manager's handler (or the tasks it waits for).
    """

    def __init__(self) -> None:
        self._queues: dict[ActorRef, deque[Any]] = {}
        self._emptied: dict[ActorRef, trio.Event] = {}
        self._delivered: dict[ActorRef, trio.Event] = {}  # set as each one is delivered
        self.merged = 0  #: messages that stood in for one waiting (see the docstring)

    async def send(self, nursery: trio.Nursery, ref: ActorRef, message: Any) -> None:
        """Deliver ``message`` to ``ref`` now, or queue it behind what waits for it;
        waits only past :data:`MAX_WAITING`, and only for a report or a stop or start
        behind a change waiting already. Raises :class:`ActorStopped` if ``ref`` has
        stopped for good."""
        while len(self._queues.get(ref, ())) >= MAX_WAITING and self._adds(ref, message):
            await self._delivered[ref].wait()
        self._put(nursery, ref, message)

    def _adds(self, ref: ActorRef, message: Any) -> bool:
        """Whether ``message`` would wait as one more (a report, or a stop or start
        behind a change), not stand in for one waiting. The first of a kind to wait is
        within the bound (one of each kind), like the others."""
        kind = _kind(message)
        if kind is None:
            return True
        queue = self._queues.get(ref, deque())
        return _last_of_kind(queue, kind) is not None and _merge_target(queue, message) is None

    def _put(self, nursery: trio.Nursery, ref: ActorRef, message: Any) -> None:
        queue = self._queues.get(ref)
        if queue is None:
            try:
                ref.tell_nowait(message)
                return
            except MailboxFull:
                log.info("%r is busy: what it is told waits for room", ref)
                queue = self._queues[ref] = deque()
                self._emptied[ref] = trio.Event()
                self._delivered[ref] = trio.Event()
                nursery.start_soon(self._deliver, ref, queue)
        i = _merge_target(queue, message)
        if i is not None:
            self.merged += 1
            if isinstance(message, _IN_PLACE):
                queue[i] = _merged(queue[i], message)
                return
            message = _merged(queue[i], message)
            del queue[i]
        queue.append(message)

    def behind(self, ref: ActorRef) -> bool:
        """Whether something told to ``ref`` still waits here."""
        return ref in self._queues

    def waiting(self, ref: ActorRef) -> int:
        """How many messages wait here for ``ref``."""
        return len(self._queues.get(ref, ()))

    async def caught_up(self, ref: ActorRef) -> None:
        """Return once ``ref`` has handled everything told to it so far (queued here or
        in its mailbox); unbounded: the caller bounds it. Raises what the ask of
        :class:`Caught` raises (``ActorStopped``, ``ActorCrashed``)."""
        emptied = self._emptied.get(ref)
        if emptied is not None:
            await emptied.wait()
        await ref.ask(Caught(), timeout=math.inf)

    async def _deliver(self, ref: ActorRef, queue: deque[Any]) -> None:
        in_flight: list[Any] = []
        try:
            while queue:
                # Taken out before the send, so a merge never touches a message in flight.
                in_flight = [queue.popleft()]
                await ref.tell(in_flight[0])
                in_flight = []
                self._delivered[ref].set()
                self._delivered[ref] = trio.Event()
        except ActorStopped:
            log.info("%r stopped: %d message(s) for it dropped", ref, 1 + len(queue))
        finally:
            # Not delivered (stopped for good, or the manager's run ended): dropped.
            _dropped([*in_flight, *queue])
            queue.clear()
            del self._queues[ref]
            self._emptied.pop(ref).set()
            self._delivered.pop(ref).set()
