"""A clean stop of a Conductor: what cancelling ``run_conductor`` sets off.

SIGTERM or Ctrl-C of ``symphony conductor`` or ``symphony up``, or an embedder's
cancellation, reaches ``run_conductor`` as a cancellation. Its work runs inside
:attr:`CleanStop.guard`, a shielded scope, and a sibling task turns the cancellation
into :meth:`CleanStop.ask`:

- while a leader's API serves (:attr:`CleanStop.graceful`), that leader stops as
  :mod:`.api.stepdown` says: no new request taken in, the streams end with a last
  line, the requests in flight get a moment with the actors still running, the rest are
  answered; then the actors stop, then the API;
- at any other moment (the tree starting, a standby) the guard is cancelled at once, as
  if there were no guard.

A leader that shares its store keeps renewing its lease while it drains (a standby
that took over meanwhile would fence the very writes being finished), then gives the
lease up, so that a standby leads at once rather than when the lease would expire.

Either way the whole stop is bounded by :data:`STOP_LIMIT` (an actor that hangs in its
stop is cancelled then). An embedder's second cancellation cannot shorten it; the
command line's second signal exits at once (:mod:`symphony.cli.runner`).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import trio

#: Seconds a clean stop may take in all: the requests' grace (1 s), the actors'
#: cancellation, the API's own graceful stop (at most 1 s, for answers being sent), with
#: room to spare. Past it, whatever is left is cancelled.
STOP_LIMIT = 3.0


class CleanStop:
    """A stop asked of one ``run_conductor`` (see the module)."""

    def __init__(self) -> None:
        self.asked = trio.Event()
        #: Shields the Conductor's work from the caller's cancellation (see the module).
        self.guard = trio.CancelScope(shield=True)
        #: True while a leader's API serves: that leader then stops itself, gracefully.
        self.graceful = False
        #: Set once a leader asked to stop has drained (its API and actors stopped): it
        #: renews its lease until then, and gives it up after.
        self.drained = trio.Event()

    def ask(self) -> None:
        """Stop: gracefully if a leader serves, else at once; never past the limit."""
        if self.asked.is_set():
            return
        self.asked.set()
        self.guard.deadline = trio.current_time() + STOP_LIMIT
        if not self.graceful:
            self.guard.cancel()

    async def ask_when_cancelled(self) -> None:
        """Run beside the guard, unshielded: asks the stop once cancelled."""
        try:
            await trio.sleep_forever()
        finally:
            self.ask()


async def first_of(*waits: Callable[[], Awaitable[object]]) -> None:
    """Return as soon as one of ``waits`` returns (the others are cancelled)."""
    async with trio.open_nursery() as nursery:

        async def wait(fn: Callable[[], Awaitable[object]]) -> None:
            await fn()
            nursery.cancel_scope.cancel()

        for fn in waits:
            nursery.start_soon(wait, fn)
