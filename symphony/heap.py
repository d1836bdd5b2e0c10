"""Give back to the system the memory a long-lived process freed while it started.

Starting a Conductor, a node agent or a node monitor imports modules; what the imports
allocated only for a while (source being compiled, temporary tables) is freed to the C
allocator, which keeps it in its heap. ``malloc_trim`` returns the free pages of that
heap to the system: about 0.3 MiB of an idle Conductor, 0.5 MiB of an idle agent and
0.7 MiB of its monitor, measured with ``python -m benchmarks --scenario idle_rss``.
Called once, when the process is up: later frees are reused by later allocations.
Elsewhere than glibc it does nothing. Standard library only (the monitor imports it).
"""

from __future__ import annotations

import sys

__all__ = ["release_startup_garbage"]


def release_startup_garbage() -> None:
    """Return the allocator's free pages to the system (glibc); never raises."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes  # loaded already: by Trio (thread names), by the monitor (prctl)

    try:
        ctypes.CDLL(None).malloc_trim(0)
    except (AttributeError, OSError):  # not glibc (musl has no malloc_trim)
        return
