"""The garbage collector of a process that runs a Conductor: full collections rarely.

A Conductor holding thousands of node links tracks about 300 objects per link (1.5
million at 5,000 nodes), and every heartbeat leaves a few objects that live until the
next one (three seconds): long enough to survive two young collections and be promoted
to the oldest generation, where reference counting frees them later. CPython decides
when to collect the oldest generation by counting those promotions, not what is still
alive, so at 5,000 nodes it ran a full collection of the whole heap (1 to 2 s each)
every few seconds and found next to nothing: a quarter of a core, 25 of the 61 % the
Conductor spent on heartbeats, and the reason a reconnect storm took a minute more.

:func:`collect_rarely` spaces full collections out: one per :data:`FULL_EVERY` young
(generation-1) collections instead of CPython's 10. Cyclic garbage in the oldest
generation then waits longer to be freed; the Conductor makes little of it (links and
sessions end by closing their tasks, their objects mostly freed by reference counts),
and its memory with 5,000 nodes did not grow from it.

It changes the whole process, so it is for processes that *are* a Conductor:
``symphony conductor`` and ``symphony up`` call it at start. A program that embeds a
Conductor keeps its own settings, and calls :func:`collect_rarely` itself if it holds
thousands of nodes.
"""

from __future__ import annotations

import gc

__all__ = ["FULL_EVERY", "collect_rarely"]

#: Young (generation-1) collections between two full ones (CPython's default: 10).
FULL_EVERY = 1000


def collect_rarely() -> None:
    """Collect the oldest generation once per :data:`FULL_EVERY` young collections
    (the two younger thresholds are left as they are)."""
    youngest, middle, _ = gc.get_threshold()
    gc.set_threshold(youngest, middle, FULL_EVERY)
