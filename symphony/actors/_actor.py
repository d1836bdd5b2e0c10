"""The :class:`Actor` base class and :func:`spawn`.

An actor is an object that owns its state and handles one message at a time from a
bounded mailbox. Subclass it and override :meth:`Actor.receive`; its return value is the
reply to an ``ask``. Example::

    class Counter(Actor):
        def __init__(self) -> None:
            super().__init__()
            self.count = 0

        async def receive(self, message):
            if message == "incr":
                self.count += 1
            return self.count

    async with trio.open_nursery() as nursery:
        counter = await spawn(nursery, Counter(), name="counter")
        await counter.tell("incr")
        assert await counter.ask("get") == 1
        await counter.stop()

Lifecycle of one run: ``on_start`` (``self.nursery`` and ``self.ref`` are ready; spawn
returns once it has finished), then messages one by one, then on a graceful stop
``on_stop``. Background tasks started in ``self.nursery`` are cancelled when the run ends,
whatever the reason. An exception escaping ``receive`` or a background task crashes the
actor: an asker of the failing message gets :class:`ActorCrashed`, and the exception
propagates to whoever runs the actor (a supervisor, or the nursery given to ``spawn``)
with a note naming the actor. Every ask the run still owes when it ends, for whatever
reason (the one being handled, replies deferred and not yet sent), fails with
:class:`ActorStopped`: no asker waits on a run that is gone.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Any

import trio

from ._errors import ActorConfigError, ActorStopped
from ._mailbox import ActorRef, Mailbox, Reply, _Ask, crashed_error

_WAKE_UP: Any = object()  # put into an idle actor's mailbox to make it notice a stop request


class Actor:
    """Base class of actors. Override :meth:`receive`, and optionally the hooks."""

    def __init__(self) -> None:
        self._mailbox: Mailbox | None = None
        self._nursery: trio.Nursery | None = None
        self._idle = False
        self._stop_requested = False
        self._current_ask: _Ask | None = None
        # Asks taken over with defer_reply() and not answered yet: owed by this run.
        self._deferred: set[_Ask] = set()

    # ---- what subclasses override -------------------------------------------------
    async def on_start(self) -> None:
        """Called once per run before the first message; may start background tasks."""

    async def receive(self, message: Any) -> Any:
        """Handle one message. The return value is the reply when it was an ask."""
        raise NotImplementedError(f"{type(self).__name__} must implement receive()")

    async def on_stop(self) -> None:
        """Called on a graceful stop, after the last message; not called on a crash."""

    # ---- what subclasses use ------------------------------------------------------
    @property
    def ref(self) -> ActorRef:
        """This actor's own address (to hand to others, or to message itself)."""
        if self._mailbox is None:
            raise RuntimeError(f"{type(self).__name__} is not running: it has no ref yet")
        return ActorRef(self._mailbox)

    @property
    def name(self) -> str:
        """The name the actor was started under."""
        return self._mailbox.name if self._mailbox is not None else type(self).__name__

    @property
    def nursery(self) -> trio.Nursery:
        """A nursery living as long as this run: for the actor's background tasks."""
        if self._nursery is None:
            raise RuntimeError(f"actor {self.name!r} is not running: no nursery yet")
        return self._nursery

    def defer_reply(self) -> Reply:
        """Take over the reply to the ask being handled, to answer it later.

        Call it inside :meth:`receive`; the return value of ``receive`` is then ignored
        and the asker waits (within its timeout) until ``reply.send(value)``. If this run
        ends first (stop, crash, cancellation), the asker gets :class:`ActorStopped`.
        """
        ask = self._current_ask
        if ask is None:
            raise RuntimeError("defer_reply() called outside of handling an ask")
        self._current_ask = None
        ask.owner = self._deferred
        self._deferred.add(ask)
        return Reply(ask)

    def request_stop(self) -> None:
        """Ask this run to end after the current message (used by ``ref.stop()``)."""
        self._stop_requested = True
        if self._idle and self._mailbox is not None:
            # An idle actor waits on an empty mailbox, so there is room to wake it. A
            # busy one sees the flag after its current message.
            with contextlib.suppress(
                trio.WouldBlock, trio.ClosedResourceError, trio.BrokenResourceError
            ):
                self._mailbox.sender.send_nowait(_WAKE_UP)

    # ---- the run --------------------------------------------------------------------
    async def run(
        self, mailbox: Mailbox, *, task_status: trio.TaskStatus[ActorRef] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Run this actor on ``mailbox`` until it stops or crashes.

        Used by :func:`spawn` and by supervisors; reports the actor's ref once
        ``on_start`` has finished. The mailbox is left open: its owner decides.
        """
        if self._mailbox is not None:
            raise RuntimeError(f"actor {mailbox.name!r}: an Actor object runs only once")
        self._mailbox = mailbox
        mailbox.running = self
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                await self.on_start()
                task_status.started(ActorRef(mailbox))
                await self._handle_messages(mailbox)
                await self.on_stop()
                nursery.cancel_scope.cancel()
        except BaseExceptionGroup as group:
            # The nursery is ours, not the user's: report a single failure as itself.
            error = _single(group)
            if error is None:
                raise
            error.add_note(f"in actor {mailbox.name!r}")
            raise error from None
        except Exception as error:
            error.add_note(f"in actor {mailbox.name!r}")
            raise
        finally:
            self._fail_owed_asks(mailbox.name)
            if mailbox.running is self:
                mailbox.running = None

    def _fail_owed_asks(self, name: str) -> None:
        """Answer every ask this run still owes: it will never answer them now.

        That is the one being handled when the run was cancelled (a shutdown timeout, a
        sibling's group restart, ``remove_child``, a crash of a background task) and every
        deferred reply not yet sent. Asks still queued in the mailbox are not owed by this
        run: a supervised child's mailbox outlives it and the next run answers them, and
        a mailbox closed for good fails them itself.
        """
        owed = [self._current_ask] if self._current_ask is not None else []
        owed += self._deferred
        self._current_ask = None
        for ask in owed:
            ask.fail(
                ActorStopped(
                    f"actor {name!r} stopped before answering {type(ask.message).__name__}"
                )
            )

    async def _handle_messages(self, mailbox: Mailbox) -> None:
        receiver = mailbox.receiver
        handle = self.receive
        try:
            while not self._stop_requested:
                self._idle = True
                item = await receiver.receive()
                self._idle = False
                if item is _WAKE_UP:
                    continue  # a stop request woke us (or a stale one from a past run)
                if type(item) is _Ask:
                    await self._answer(item)
                else:
                    await handle(item)
        except (trio.EndOfChannel, trio.ClosedResourceError):
            return

    async def _answer(self, ask: _Ask) -> None:
        self._current_ask = ask
        try:
            value = await self.receive(ask.message)
        except Exception as error:
            ask.fail(crashed_error(self.name, ask.message, error))
            raise
        # Cancelled inside receive: _current_ask stays set and the run's end fails it.
        if self._current_ask is ask:  # not taken over by defer_reply()
            self._current_ask = None
            ask.reply(value)


def _single(group: BaseExceptionGroup) -> Exception | None:
    """The one plain Exception inside nested single-member groups, else None."""
    error: BaseException = group
    while isinstance(error, BaseExceptionGroup) and len(error.exceptions) == 1:
        error = error.exceptions[0]
    return (
        error
        if isinstance(error, Exception) and not isinstance(error, BaseExceptionGroup)
        else None
    )


def check_mailbox_size(mailbox_size: int) -> None:
    """Validate a mailbox capacity: a positive int (bounded mailboxes only)."""
    if isinstance(mailbox_size, bool) or not isinstance(mailbox_size, int) or mailbox_size < 1:
        raise ActorConfigError(f"mailbox_size must be a positive int, got {mailbox_size!r}")


async def spawn(
    nursery: trio.Nursery, actor: Actor, *, name: str | None = None, mailbox_size: int = 64
) -> ActorRef:
    """Start ``actor`` in ``nursery`` and return its ref once ``on_start`` has run.

    The actor is unsupervised: a crash propagates into ``nursery`` like any task
    failure. When the run ends, for any reason, its mailbox closes and queued asks fail
    with :class:`ActorStopped`.
    """
    check_mailbox_size(mailbox_size)
    mailbox = Mailbox(name or type(actor).__name__, mailbox_size)
    ref: ActorRef = await nursery.start(functools.partial(_run_once, actor, mailbox))
    return ref


async def _run_once(
    actor: Actor, mailbox: Mailbox, *, task_status: trio.TaskStatus[ActorRef]
) -> None:
    try:
        await actor.run(mailbox, task_status=task_status)
    finally:
        mailbox.close()
