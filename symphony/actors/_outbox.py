"""The :class:`Outbox`: non-blocking sends up the actor graph, with an overflow policy.

Blocking sends (``await ref.tell``, ``ask``) must form a graph without cycles (see
"Who may await whom" in ``docs/actors.md``). An actor reporting *up* that graph - to
whoever asked it for work - must therefore never wait for the receiver's mailbox. An
Outbox makes that easy: the actor ``put``\\ s messages, which never waits; a background
task of the actor delivers them in order, waiting for mailbox space itself. While the
receiver is slow, messages wait in the outbox, bounded by its policy:

- ``key=...`` **coalesces**: a message whose key is already waiting replaces the waiting
  one (in its place in the queue). Use it for state reports where only the latest per
  key matters (``key=lambda s: s.instance_id``).
- past ``capacity`` waiting messages, the **oldest is dropped** and counted in
  :attr:`Outbox.dropped`, so the receiver (or a metric) can tell it must resync.

Example, inside an actor::

    async def on_start(self) -> None:
        self.reports = Outbox(self.owner, capacity=1000, key=lambda r: r.instance_id)
        self.nursery.start_soon(self.reports.run)

    async def receive(self, message):
        ...
        self.reports.put(Report(instance_id, state))  # never waits

For the third policy, *fail*, no outbox is needed: ``ref.tell_nowait`` raises
:class:`MailboxFull`.

An Outbox may drop: use it for reports the receiver can recover from (a later full
report, a resync). News that must never be lost needs a queue bounded by merging what
waits instead (the Conductor's ``LosslessFanout`` is one).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import trio

from ._errors import ActorConfigError, ActorStopped
from ._mailbox import ActorRef


class Outbox:
    """Messages on their way to one actor; ``put`` never waits. See the module docs.

    Args:
        target: the actor to deliver to.
        capacity: how many messages may wait; past it the oldest is dropped.
        key: when given, a waiting message with the same key is replaced (coalesced).
    """

    def __init__(
        self,
        target: ActorRef,
        *,
        capacity: int = 1024,
        key: Callable[[Any], Hashable] | None = None,
    ) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
            raise ActorConfigError(f"Outbox capacity must be a positive int, got {capacity!r}")
        self.target = target
        self.capacity = capacity
        self._key = key
        self._waiting: OrderedDict[Hashable, Any] = OrderedDict()
        self._serial = 0  # keys of messages without a key function: never equal
        self._wakeup = trio.Event()
        self.dropped = 0
        self.coalesced = 0

    def __len__(self) -> int:
        """How many messages are waiting."""
        return len(self._waiting)

    def put(self, message: Any) -> None:
        """Queue ``message`` for delivery; never waits, never raises for a slow target."""
        if self._key is not None:
            key = ("k", self._key(message))
            if key in self._waiting:
                self._waiting[key] = message  # keeps its place: only the latest matters
                self.coalesced += 1
                return
        else:
            self._serial += 1
            key = ("n", self._serial)
        if len(self._waiting) >= self.capacity:
            self._waiting.popitem(last=False)
            self.dropped += 1
        self._waiting[key] = message
        self._wakeup.set()

    async def run(self) -> None:
        """Deliver waiting messages in order, forever; run it in the sender's nursery.

        Returns when the target has stopped for good (what was waiting is discarded).
        """
        while True:
            while not self._waiting:
                self._wakeup = trio.Event()
                await self._wakeup.wait()
            # Off the queue before the send: capacity and coalescing concern what still
            # waits; a newer message under the same key is queued behind this one.
            _, message = self._waiting.popitem(last=False)
            try:
                await self.target.tell(message)
            except ActorStopped:
                self._waiting.clear()
                return
