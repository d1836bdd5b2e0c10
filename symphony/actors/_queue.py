"""The queue behind a mailbox: a bounded FIFO with one reader and any number of senders.

It does what the pair ``trio.open_memory_channel(capacity)`` makes did for a mailbox
(one send side and one receive side, closed together), with the same checkpoints: a
``send`` or ``receive`` checks for cancellation first and yields once when it did not
have to wait; a value sent to a reader already waiting is handed to it directly (it
takes no room); a sender waits while ``capacity`` values are queued, and the senders
waiting go in in the order they came. Closing wakes the waiting reader (``EndOfChannel``)
and the waiting senders (``ClosedResourceError``); after it, every call raises
``ClosedResourceError``.

What it saves: a memory channel is three objects whose making goes through generic
aliases (about 5 us; this queue 0.5 us), and a receive that finds nothing raised and
caught ``WouldBlock`` before waiting (once per message to an idle actor).
"""

from __future__ import annotations

from collections import deque
from typing import Any

import trio
import trio.lowlevel

_NOTHING: Any = object()  # no value handed to the reader (it was woken by close)


class MailboxQueue:
    """A bounded FIFO for one reader task; see the module docstring."""

    __slots__ = ("_closed", "_data", "_handed", "_reader", "_senders", "capacity")

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._data: deque[Any] = deque()
        self._closed = False
        self._reader: trio.lowlevel.Task | None = None  # waiting in receive()
        self._handed: Any = _NOTHING  # the value sent to the waiting reader
        # Senders waiting for room, in arrival order, with their values; one still
        # here when it wakes was woken by close.
        self._senders: dict[trio.lowlevel.Task, Any] = {}

    # ---- the send side ----------------------------------------------------------------
    def send_nowait(self, value: Any) -> None:
        """Queue ``value`` (or hand it to the waiting reader); ``WouldBlock`` if full."""
        if self._closed:
            raise trio.ClosedResourceError
        reader = self._reader
        if reader is not None:
            self._reader = None
            self._handed = value
            trio.lowlevel.reschedule(reader)
        elif len(self._data) < self.capacity:
            self._data.append(value)
        else:
            raise trio.WouldBlock

    async def send(self, value: Any) -> None:
        """Queue ``value``, waiting for room while the queue is full."""
        await trio.lowlevel.checkpoint_if_cancelled()
        try:
            self.send_nowait(value)
        except trio.WouldBlock:
            pass
        else:
            await trio.lowlevel.cancel_shielded_checkpoint()
            return
        task = trio.lowlevel.current_task()
        self._senders[task] = value

        def abort(_: Any) -> trio.lowlevel.Abort:
            del self._senders[task]
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)
        if self._senders.pop(task, _NOTHING) is not _NOTHING:  # not taken: closed
            raise trio.ClosedResourceError

    # ---- the receive side -------------------------------------------------------------
    def receive_nowait(self) -> Any:
        """The oldest value; ``WouldBlock`` if there is none."""
        if self._closed:
            raise trio.ClosedResourceError
        if self._senders:  # the first sender waiting gets its room
            task = next(iter(self._senders))
            self._data.append(self._senders.pop(task))
            trio.lowlevel.reschedule(task)
        if self._data:
            return self._data.popleft()
        raise trio.WouldBlock

    async def receive(self) -> Any:
        """The oldest value, waiting for one; ``EndOfChannel`` if closed meanwhile."""
        await trio.lowlevel.checkpoint_if_cancelled()
        if self._data or self._senders:
            value = self.receive_nowait()
            await trio.lowlevel.cancel_shielded_checkpoint()
            return value
        if self._closed:
            raise trio.ClosedResourceError
        if self._reader is not None:
            raise trio.BusyResourceError("a mailbox has one reader")
        self._reader = trio.lowlevel.current_task()

        def abort(_: Any) -> trio.lowlevel.Abort:
            self._reader = None
            return trio.lowlevel.Abort.SUCCEEDED

        await trio.lowlevel.wait_task_rescheduled(abort)
        value, self._handed = self._handed, _NOTHING
        if value is _NOTHING:
            raise trio.EndOfChannel
        return value

    # ---- both ---------------------------------------------------------------------------
    def close(self) -> None:
        """Close both sides (idempotent); queued values are dropped, waiters woken."""
        if self._closed:
            return
        self._closed = True
        self._data.clear()
        if self._reader is not None:
            reader, self._reader = self._reader, None
            trio.lowlevel.reschedule(reader)
        for task in self._senders:
            trio.lowlevel.reschedule(task)
