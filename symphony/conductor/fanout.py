"""LosslessFanout: news sent *up* the tree to many receivers, never blocking, never lost.

Mailboxes are bounded, so ``await ref.tell(msg)`` waits while the receiver is full. Two
actors that wait on each other that way deadlock: the Scheduler telling a
DeploymentSupervisor ``Placed`` while that supervisor tells the Scheduler
``ReleaseInstances`` was exactly such a pair. The rule in the Conductor is therefore:

- requests flow *down* with blocking sends (API -> Deployments -> DeploymentSupervisor ->
  Scheduler -> NodeSession; a DeploymentSupervisor also asks the NodeRegistry);
- news flows *up* (Scheduler -> owners, NodeRegistry -> subscribers) through a
  :class:`LosslessFanout`: the handler only appends to a per-receiver queue and returns;
  one background task per receiver with something queued delivers it in order with a
  blocking ``tell``. A full receiver delays that task, never the sender's mailbox.

Overflow policy: nothing is dropped while the receiver lives (a ``Placed`` lost would
leak capacity). Instead the sender *coalesces*: ``merge`` folds a new message into the
last one still queued (not the one being delivered), so each receiver sees at most one
queued message plus one in flight, and the size of that message is bounded by what the
sender knows (see each sender's docstring). A receiver that stopped for good gets
nothing more: its queue is dropped and counted in :attr:`LosslessFanout.dropped`.

When to use which: the runtime's public :class:`symphony.actors.Outbox` serves *one*
target whose reports may be lost (a bounded queue that drops the oldest and counts it,
or keeps only the latest per key) because the receiver can resync from a later full
report; its delivery task runs for the sender's whole life. This class serves a
*changing set* of receivers (every deployment's supervisor) with news that must not be
lost (a placement, a lost reservation), so it never drops while a receiver lives and
bounds its queues by merging instead; it starts a delivery task only while a receiver
has something queued, and delivers at once (``tell_nowait``) when nothing waits.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable
from typing import Any

import trio

from symphony.actors import ActorRef, ActorStopped, MailboxFull

log = logging.getLogger("symphony.conductor.fanout")

#: ``merge(queued, new)``: one message saying both, or None to queue ``new`` after it.
Merge = Callable[[Any, Any], Any | None]


class LosslessFanout:
    """Per-receiver FIFO queues flushed by background tasks of the owning actor.

    Call :meth:`send` only from the owning actor's handler (it is not thread-safe, and
    needs no lock: Trio runs one task at a time and :meth:`send` never awaits).
    """

    def __init__(self, merge: Merge | None = None) -> None:
        self._merge = merge
        self._queues: dict[ActorRef, deque[Any]] = {}
        self._flushing: set[ActorRef] = set()
        self.queued = 0  #: messages waiting (not counting the ones being delivered)
        self.delivered = 0
        self.dropped = 0  #: messages for receivers that had stopped for good

    def send(self, nursery: trio.Nursery, ref: ActorRef, message: Any) -> None:
        """Deliver ``message`` to ``ref`` now if its mailbox has room and nothing for it is
        queued; else queue it and make sure a task is delivering. Never waits."""
        if ref not in self._flushing:
            try:
                ref.tell_nowait(message)
            except MailboxFull:
                pass  # queue it below
            except ActorStopped:
                self.dropped += 1
                return
            else:
                self.delivered += 1
                return
        queue = self._queues.setdefault(ref, deque())
        if queue and self._merge is not None:
            merged = self._merge(queue[-1], message)
            if merged is not None:
                queue[-1] = merged
                return
        queue.append(message)
        self.queued += 1
        if ref not in self._flushing:
            self._flushing.add(ref)
            nursery.start_soon(self._flush, ref)

    def pending(self, ref: ActorRef) -> int:
        """How many messages are queued for ``ref``."""
        return len(self._queues.get(ref, ()))

    async def _flush(self, ref: ActorRef) -> None:
        try:
            while queue := self._queues.get(ref):
                # Taken out before the send, so a merge never touches a message in flight.
                message = queue.popleft()
                self.queued -= 1
                try:
                    await ref.tell(message)
                except ActorStopped:
                    self.dropped += 1 + len(queue)
                    self.queued -= len(queue)
                    log.debug("%r stopped; dropped %d message(s)", ref, 1 + len(queue))
                    queue.clear()
                else:
                    self.delivered += 1
            self._queues.pop(ref, None)
        finally:
            self._flushing.discard(ref)
