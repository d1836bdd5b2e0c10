"""StatusWindow: how many of one link's status updates may be on their way at once.

A node's statuses travel from its link's reader to the registry, which hands them on to
the deployments through a :class:`~symphony.conductor.fanout.LosslessFanout` (never
waiting on them: see ``registry.py``); the fanout merges what waits into one report.
The registry takes them as fast as its mailbox allows, so without a bound a node
sending statuses faster than the deployments apply them (a flood of statuses for
instances it was never given, say) would grow that merged report without end: 1,000,000
statuses in 10 s held 330 MiB.

So each link's reader counts the updates it passed on (:meth:`StatusWindow.sent`); they
are counted off (:meth:`StatusWindow.settled`) where they end: once a deployment's
supervisor has applied them, once the Deployments manager drops them (no such
deployment, or a stale session's), or once a supervisor stopped for good (a deployment
deleted) drops them unread from its mailbox (``NodeReport.dropped_unread``). The reader
waits (:meth:`StatusWindow.room`) while :data:`STATUS_WINDOW` or more are on
their way. Waiting stalls only that link's reading (the node's own sends wait in its
socket); no other link or job waits. A legitimate node never notices: it sends a few
updates at a time, or a batch per change.

Should counts be lost (a report dropped on its way to the manager because that stopped
for good; the tree is then restarting and its links with it), the reader goes on after
:data:`SETTLE_TIMEOUT` seconds without a single settle, its count reset to 0, rather
than stall its link.
"""

from __future__ import annotations

import logging

import trio

log = logging.getLogger("symphony.conductor.nodes")

#: Status updates of one link that may be on their way to the deployments at once.
STATUS_WINDOW = 2048
#: Seconds a reader waits without any of its updates settled before it goes on anyway.
SETTLE_TIMEOUT = 10.0


class StatusWindow:
    """The count of one link's status updates on their way (see the module)."""

    __slots__ = ("_in_flight", "_room")

    def __init__(self) -> None:
        self._in_flight = 0
        self._room: trio.Event | None = None  # set on a settle while the reader waits

    @property
    def in_flight(self) -> int:
        """Updates passed on and not yet applied (nor dropped)."""
        return self._in_flight

    def sent(self, count: int) -> None:
        """The reader passed ``count`` more updates on."""
        self._in_flight += count

    def settled(self, count: int) -> None:
        """``count`` of them were applied (or dropped): room for more."""
        self._in_flight = max(0, self._in_flight - count)
        if self._room is not None:
            self._room.set()

    async def room(self) -> None:
        """Return once fewer than :data:`STATUS_WINDOW` updates are on their way."""
        while self._in_flight >= STATUS_WINDOW:
            self._room = trio.Event()
            with trio.move_on_after(SETTLE_TIMEOUT) as waiting:
                await self._room.wait()
            self._room = None
            if waiting.cancelled_caught:
                log.warning(
                    "%d status updates of a link not settled in %g s; reading on",
                    self._in_flight,
                    SETTLE_TIMEOUT,
                )
                self._in_flight = 0
