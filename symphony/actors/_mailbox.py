"""Mailboxes, ask envelopes and the references through which actors are reached.

A :class:`Mailbox` is a bounded queue (:class:`~._queue.MailboxQueue`, what a Trio memory
channel did, cheaper) plus a name. It outlives any one run
of an actor: a supervisor keeps a child's mailbox across restarts, so an
:class:`ActorRef` handed out once stays valid while the child is restarted, and messages
sent during a restart wait for the next incarnation instead of being lost.

An ask travels as an :class:`_Ask` envelope carrying its own reply slot. Whoever takes an
envelope out of the mailbox owes it an answer: the actor's loop replies with the return
value of ``receive`` (or the error it raised), and a mailbox closed for good fails every
envelope still queued, so no asker waits on a dead actor.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Protocol

import trio

from ._errors import ActorCrashed, ActorStopped, AskTimeout, MailboxFull
from ._queue import MailboxQueue

log = logging.getLogger("symphony.actors")


class _Sender(Protocol):
    """What a ref sends through: a mailbox queue, or an inline actor."""

    async def send(self, value: Any) -> None: ...
    def send_nowait(self, value: Any) -> None: ...
    def close(self) -> None: ...


class _Runner(Protocol):
    """Who reads a mailbox now (an Actor's run, or an inline actor)."""

    def request_stop(self) -> None: ...


class _Ask:
    """A request waiting for one reply: the message plus a one-shot reply slot.

    ``owner`` is the set of unanswered deferred asks of the actor run that took this
    one over with ``defer_reply``; answering removes it from there, so the run can fail
    exactly the ones still owed when it ends.
    """

    __slots__ = ("done", "error", "message", "owner", "value")

    def __init__(self, message: Any) -> None:
        self.message = message
        self.done = trio.Event()
        self.value: Any = None
        self.error: BaseException | None = None
        self.owner: set[_Ask] | None = None

    def reply(self, value: Any) -> None:
        if not self.done.is_set():
            self.value = value
            self._finish()

    def fail(self, error: BaseException) -> None:
        if not self.done.is_set():
            self.error = error
            self._finish()

    def _finish(self) -> None:
        self.done.set()
        if self.owner is not None:
            self.owner.discard(self)
            self.owner = None


class Reply:
    """A deferred answer to an ask, obtained with :meth:`Actor.defer_reply`.

    Lets an actor finish handling a message now and answer later (for example once a
    remote node has responded) without blocking its mailbox in the meantime.
    """

    __slots__ = ("_ask",)

    def __init__(self, ask: _Ask) -> None:
        self._ask = ask

    def send(self, value: Any) -> None:
        """Deliver the reply value to the asker (later calls are ignored)."""
        self._ask.reply(value)

    def fail(self, error: BaseException) -> None:
        """Make the asker's ``ask`` raise ``error`` (later calls are ignored)."""
        self._ask.fail(error)


class Mailbox:
    """The bounded queue in front of one actor, with the actor currently reading it."""

    __slots__ = ("_closed", "capacity", "name", "receiver", "running", "sender")

    def __init__(self, name: str, capacity: int) -> None:
        self.name = name
        self.capacity = capacity
        queue = MailboxQueue(capacity)
        self.sender: _Sender = queue
        self.receiver = queue
        # The actor instance currently reading this mailbox, or None between runs.
        self.running: _Runner | None = None
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once the mailbox has been closed for good."""
        return self._closed

    def close(self) -> None:
        """Close for good: later sends fail, queued asks fail with ActorStopped now, and
        queued tells are dropped (a message with a ``dropped_unread()`` method has it
        called: what it holds, such as a count, is given back).

        There is no checkpoint between draining and closing, so nothing can slip in.
        """
        if self._closed:
            return
        self._closed = True
        while True:
            try:
                item = self.receiver.receive_nowait()
            except (trio.WouldBlock, trio.EndOfChannel):
                break
            if type(item) is _Ask:
                item.fail(ActorStopped(f"actor {self.name!r} stopped before answering"))
            else:
                _dropped_unread(item)
        self.receiver.close()  # the one queue: both its sides

    def stopped_error(self, message: Any) -> ActorStopped:
        return ActorStopped(
            f"actor {self.name!r} is stopped; cannot deliver {type(message).__name__}"
        )


def _dropped_unread(message: Any) -> None:
    """Tell a message dropped unread in a closed mailbox, if it wants to know. A hook
    that fails is logged, never raised: the close must go on failing the asks queued
    behind it, or they would wait for answers that never come."""
    dropped = getattr(message, "dropped_unread", None)
    if callable(dropped):
        try:
            dropped()
        except Exception:
            log.exception("dropped_unread() of a %s failed", type(message).__name__)


class ActorRef:
    """The address of an actor: the only way other code talks to it.

    ``tell`` sends without waiting for an answer; ``ask`` sends and waits for the reply.
    Refs are cheap, hashable and safe to share between tasks.
    """

    __slots__ = ("_mailbox",)

    def __init__(self, mailbox: Mailbox) -> None:
        self._mailbox = mailbox

    @property
    def name(self) -> str:
        """The actor's name, used in error messages and logs."""
        return self._mailbox.name

    @property
    def alive(self) -> bool:
        """False once the actor has stopped for good (its mailbox is closed)."""
        return not self._mailbox.closed

    def __eq__(self, other: object) -> bool:
        return isinstance(other, ActorRef) and other._mailbox is self._mailbox

    def __hash__(self) -> int:
        return id(self._mailbox)

    def __repr__(self) -> str:
        state = "alive" if self.alive else "stopped"
        return f"<ActorRef {self.name!r} {state}>"

    async def tell(self, message: Any) -> None:
        """Deliver ``message``, waiting while the mailbox is full (backpressure).

        Raises:
            ActorStopped: the actor has stopped for good.
        """
        try:
            await self._mailbox.sender.send(message)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise self._mailbox.stopped_error(message) from None

    def tell_nowait(self, message: Any) -> None:
        """Deliver ``message`` now or raise :class:`MailboxFull`; never waits.

        Raises:
            MailboxFull: the mailbox holds ``mailbox_size`` messages already.
            ActorStopped: the actor has stopped for good.
        """
        try:
            self._mailbox.sender.send_nowait(message)
        except trio.WouldBlock:
            raise MailboxFull(
                f"mailbox of actor {self.name!r} is full ({self._mailbox.capacity} messages)"
            ) from None
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            raise self._mailbox.stopped_error(message) from None

    async def ask(self, message: Any, *, timeout: float = 5.0) -> Any:
        """Send ``message`` and return the actor's reply.

        The timeout covers the whole exchange, including waiting for mailbox space.
        Pass ``math.inf`` to wait without limit.

        Raises:
            AskTimeout: no reply within ``timeout`` seconds.
            ActorStopped: the actor is stopped, or stopped before answering.
            ActorCrashed: the actor raised while handling the message (the original
                exception is the ``__cause__``).
        """
        if math.isnan(timeout) or timeout < 0:
            raise ValueError(f"ask timeout must be a non-negative number, got {timeout}")
        envelope = _Ask(message)
        with trio.move_on_after(timeout):
            # A channel's send, without the yield it makes after delivering: the wait
            # for the reply is a yield of its own, so one per ask is enough.
            await trio.lowlevel.checkpoint_if_cancelled()
            try:
                try:
                    self._mailbox.sender.send_nowait(envelope)
                except trio.WouldBlock:  # the mailbox is full: wait for room
                    await self._mailbox.sender.send(envelope)
            except (trio.ClosedResourceError, trio.BrokenResourceError):
                raise self._mailbox.stopped_error(message) from None
            await envelope.done.wait()
        if not envelope.done.is_set():
            # Nobody waits any more: a late answer is dropped, and the actor no longer
            # counts this ask as owed. (Cancellation of the asker never gets here; an
            # envelope it leaves behind is answered, or failed when the run ends.)
            envelope.fail(AskTimeout("the asker gave up"))
            raise AskTimeout(
                f"no reply from actor {self.name!r} to {type(message).__name__} within {timeout} s"
            )
        if envelope.error is not None:
            raise envelope.error
        return envelope.value

    async def stop(self) -> None:
        """Ask the actor to stop gracefully: it finishes the current message first.

        Returns at once; a supervised actor may be restarted by its supervisor
        according to its restart type (use ``Supervisor.remove_child`` to end it).
        """
        actor = self._mailbox.running
        if actor is not None:
            actor.request_stop()
        await trio.lowlevel.checkpoint()


def crashed_error(actor_name: str, message: Any, error: BaseException) -> ActorCrashed:
    """The error an asker sees when the actor raised while handling its message."""
    crash = ActorCrashed(
        f"actor {actor_name!r} crashed while handling {type(message).__name__}: "
        f"{type(error).__name__}: {error}"
    )
    crash.__cause__ = error
    return crash
