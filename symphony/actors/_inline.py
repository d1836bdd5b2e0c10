"""Inline actors: an actor without a task, whose messages are handled as they are sent.

An :class:`Actor` owns a task and a mailbox: a message waits in the mailbox until the
actor's task takes it. When handling a message never waits (it only changes the actor's
state and hands work to something else), that task and its queue buy nothing but a
task hop per message and memory: a Conductor holds one node session per connected node,
thousands of them, each a task with its coroutine frames, nursery and mailbox channel.

An :class:`InlineActor` handles each message synchronously in the sender's task, inside
``tell``/``ask``: ``receive`` is a plain function, so no other code of the program runs
while it handles one, and messages are still handled one at a time, in the order they
were sent. Its :class:`ActorRef` is an ordinary ref (``tell``, ``tell_nowait``, ``ask``,
``stop``, ``alive``): senders cannot tell the difference, except that nothing waits in
a queue. Example::

    class Tally(InlineActor):
        def __init__(self) -> None:
            super().__init__("tally")
            self.total = 0

        def receive(self, message):
            self.total += message
            return self.total

    tally = Tally()
    await tally.ref.tell(2)
    assert await tally.ref.ask(3) == 5
    await tally.ref.stop()          # stopped for good: tells now raise ActorStopped

Lifecycle: it handles messages from construction until it stops, for good (nothing
restarts it): after :meth:`InlineActor.stop` (or ``ref.stop()``), or after ``receive``
raised. A sender is never hurt by the actor's failure: an exception in ``receive`` is
handed to :meth:`InlineActor.crashed` (it logs, and stops the actor) and, for an ask,
fails the ask with :class:`ActorCrashed`, as for any actor. Cancellation is the
channel's: a sender cancelled before the message was handled did not send it.
"""

from __future__ import annotations

import logging
from typing import Any

import trio

from ._mailbox import ActorRef, Mailbox, _Ask, crashed_error

log = logging.getLogger("symphony.actors")


class _InlineMailbox(Mailbox):
    """A mailbox that hands each message to its actor at once (its own sender)."""

    __slots__ = ("_actor",)

    def __init__(self, name: str, actor: InlineActor) -> None:  # no channel: no queue
        self.name = name
        self.capacity = 1
        self.sender = self
        self.running = actor  # what ActorRef.stop() asks to stop
        self._closed = False
        self._actor = actor

    def close(self) -> None:
        self._closed = True

    async def send(self, message: Any) -> None:
        # A memory channel's send: a checkpoint that delivers only if not cancelled.
        await trio.lowlevel.checkpoint_if_cancelled()
        self.send_nowait(message)
        await trio.lowlevel.cancel_shielded_checkpoint()

    def send_nowait(self, message: Any) -> None:
        if self._closed:
            raise trio.ClosedResourceError
        self._actor._deliver(message)


class InlineActor:
    """Base class of actors without a task. Override :meth:`receive` (synchronous)."""

    def __init__(self, name: str) -> None:
        self._mailbox = _InlineMailbox(name, self)
        self._ref = ActorRef(self._mailbox)

    @property
    def ref(self) -> ActorRef:
        """This actor's address."""
        return self._ref

    @property
    def name(self) -> str:
        return self._mailbox.name

    @property
    def stopped(self) -> bool:
        """True once stopped for good: sends fail with :class:`ActorStopped`."""
        return self._mailbox.closed

    def receive(self, message: Any) -> Any:
        """Handle one message, without waiting; the return value answers an ask."""
        raise NotImplementedError(f"{type(self).__name__} must implement receive()")

    def stop(self) -> None:
        """Stop for good: later sends fail with :class:`ActorStopped`. Subclasses that
        hold more (a link, tasks) extend it; it may be called more than once."""
        self._mailbox.close()

    def request_stop(self) -> None:
        """What ``ref.stop()`` calls: :meth:`stop` (nothing is queued to finish first)."""
        self.stop()

    def crashed(self, error: Exception) -> None:
        """``receive`` raised ``error``: log it and stop (a crash ends an actor)."""
        log.error("actor %r crashed: %s: %s", self.name, type(error).__name__, error)
        self.stop()

    def _deliver(self, item: Any) -> None:
        ask = item if type(item) is _Ask else None
        message = ask.message if ask is not None else item
        try:
            value = self.receive(message)
        except Exception as error:
            if ask is not None:
                ask.fail(crashed_error(self.name, message, error))
            self.crashed(error)
            return
        if ask is not None:
            ask.reply(value)
