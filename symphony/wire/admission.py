"""Admission control for the node endpoint: a bounded number of links opening at once.

Opening a link (the TLS handshake, the WebSocket upgrade, the hello and its registration)
costs the Conductor about a hundred heartbeats' worth of CPU. When thousands of nodes
come back at once (the Conductor restarted) and every one of them is let in together,
the handshakes crowd out the heartbeats of the nodes already back, everything is slow,
clients time out and retry, and the work done for them is lost.

:class:`HandshakeGate` lets at most ``concurrency`` connections through their opening
at a time; the others wait for a turn, in arrival order, at the cost of an idle socket.
One that has waited ``max_wait`` seconds is turned away (its TCP connection closed
before any TLS), so that it retries after its own backoff instead of timing out in the
middle of a handshake we would then have done for nothing: ``max_wait`` stays well under
a node's connect timeout (10 s).

>>> gate = HandshakeGate(concurrency=32, max_wait=5.0)
>>> async with gate.turn() as slot:          # doctest: +SKIP
...     if slot.admitted:
...         ...  # handshake, upgrade, hello; then slot.release() once the link is open
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import trio

__all__ = ["HandshakeGate"]

log = logging.getLogger("symphony.wire")


class HandshakeGate:
    """At most ``concurrency`` links opening at once; waiters beyond ``max_wait`` s leave.

    ``opening``, ``waiting`` and ``turned_away`` (a running total) are for logs and tests.
    """

    def __init__(self, *, concurrency: int = 32, max_wait: float = 5.0) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, got {concurrency}")
        if not max_wait > 0:
            raise ValueError(f"max_wait must be positive, got {max_wait}")
        self.concurrency = concurrency
        self.max_wait = max_wait
        self._slots = trio.Semaphore(concurrency)
        self.waiting = 0
        self.turned_away = 0

    @property
    def opening(self) -> int:
        """Connections in their opening now."""
        return self.concurrency - self._slots.value

    async def admit(self) -> Slot:
        """Wait for a turn (at most ``max_wait``); a :class:`Slot` whose ``admitted`` is
        False when the connection was turned away. Release it when done (or use
        :meth:`turn`): a link holds no context manager for its whole life this way."""
        slot = Slot(None)
        self.waiting += 1
        try:
            with trio.move_on_after(self.max_wait):
                await self._slots.acquire()
                slot = Slot(self._slots)
        finally:
            self.waiting -= 1
        if not slot.admitted:
            self.turned_away += 1
            if self.turned_away % 100 == 1:
                log.warning(
                    "node endpoint busy: %d links opening, %d waiting; turned away %d so far "
                    "(they retry after their backoff)",
                    self.opening,
                    self.waiting,
                    self.turned_away,
                )
        return slot

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[Slot]:
        """:meth:`admit`, and the turn given back on exit at the latest."""
        slot = await self.admit()
        try:
            yield slot
        finally:
            slot.release()


class Slot:
    """One connection's turn at the gate; :meth:`release` ends it early (idempotent)."""

    __slots__ = ("_semaphore", "admitted")

    def __init__(self, semaphore: trio.Semaphore | None) -> None:
        self._semaphore = semaphore
        self.admitted = semaphore is not None

    def release(self) -> None:
        """Give the turn back (once the link is open, or when it failed)."""
        semaphore, self._semaphore = self._semaphore, None
        if semaphore is not None:
            semaphore.release()
