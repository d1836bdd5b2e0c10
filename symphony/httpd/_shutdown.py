"""The server's stop: idle connections close at once, busy ones finish their request."""

from __future__ import annotations

import trio


class Shutdown:
    """Shared by a server's connections: whether it is closing, and who is idle.

    A connection waiting for its next request registers its wait with :meth:`idle`;
    :meth:`close` cancels those waits (nothing is lost: no request had begun) and makes a busy
    connection close after the response it is sending, which says ``Connection: close``
    if it has not started yet.
    """

    __slots__ = ("_idle", "closing")

    def __init__(self) -> None:
        self.closing = False
        self._idle: set[trio.CancelScope] = set()

    def idle(self, scope: trio.CancelScope) -> bool:
        """Register an idle wait's ``scope`` (cancelled when the server closes); False
        if the server is closing already (then do not wait). :meth:`done` after it."""
        if self.closing:
            return False
        self._idle.add(scope)
        return True

    def done(self, scope: trio.CancelScope) -> None:
        """The idle wait of ``scope`` ended."""
        self._idle.discard(scope)

    def close(self) -> None:
        """Start closing: idle connections end now, busy ones after their response."""
        self.closing = True
        for scope in self._idle:
            scope.cancel()
