"""The server's stop: idle connections close at once, busy ones finish their request."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import trio


class Shutdown:
    """Shared by a server's connections: whether it is closing, and who is idle.

    A connection waiting for its next request waits inside :meth:`idle`; :meth:`close`
    cancels those waits (nothing is lost: no request had begun) and makes a busy
    connection close after the response it is sending, which says ``Connection: close``
    if it has not started yet.
    """

    __slots__ = ("_idle", "closing")

    def __init__(self) -> None:
        self.closing = False
        self._idle: set[trio.CancelScope] = set()

    @contextmanager
    def idle(self, deadline: float) -> Iterator[trio.CancelScope]:
        """A scope for an idle wait until ``deadline``; cancelled when the server closes."""
        with trio.CancelScope(deadline=deadline) as scope:
            if self.closing:
                scope.cancel()
            self._idle.add(scope)
            try:
                yield scope
            finally:
                self._idle.discard(scope)

    def close(self) -> None:
        """Start closing: idle connections end now, busy ones after their response."""
        self.closing = True
        for scope in self._idle:
            scope.cancel()
