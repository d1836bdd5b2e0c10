"""Give back to the system the heap pages a long-lived process has freed.

Starting a Conductor, a node agent or a node monitor imports modules; what the imports
(and any burst of work) allocated only for a while is freed to the C allocator, which
keeps the pages in its heap. ``malloc_trim`` returns the free ones to the system: about
0.3 MiB of an idle Conductor, 0.4 MiB of an idle agent and 0.4-0.7 MiB of its monitor,
measured with ``python -m benchmarks --scenario idle_rss``. The Conductor and the agent
call it once, when they are up; the monitor whenever it goes idle after work. Elsewhere
than glibc it does nothing. Standard library only (the monitor imports it).
"""

from __future__ import annotations

import sys

__all__ = ["release_free_heap"]


def release_free_heap() -> None:
    """Return the allocator's free pages to the system (glibc); never raises."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # loaded already: by Trio (thread names), by the monitor (prctl)

    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):  # not glibc (musl has no malloc_trim)
        return
