"""Run out of file descriptors for real, for a moment (tests of what a shortage does)."""

from __future__ import annotations

import contextlib
import gc
import os
import resource
from collections.abc import Iterator


@contextlib.contextmanager
def no_free_descriptors() -> Iterator[None]:
    """Inside: this process can open no new descriptor (EMFILE), until one it has is
    closed. The limit is one past the highest descriptor open, and every free number
    below it (a hole left by one closed earlier) is taken by ``/dev/null``; all is
    given back on the way out."""
    gc.collect()  # what is garbage already closes now, not in the middle
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    highest = max(int(name) for name in os.listdir("/proc/self/fd"))
    fillers: list[int] = []
    resource.setrlimit(resource.RLIMIT_NOFILE, (highest, hard))  # the listing's fd is gone
    try:
        while True:
            try:
                fillers.append(os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC))
            except OSError:
                break
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
        for fd in fillers:
            os.close(fd)
