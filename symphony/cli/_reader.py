"""Standard output whose reader may go away (``symphony restart web | head -1``).

A client command's lines are a report, not its work: when the pipe's reader leaves,
a write fails with ``BrokenPipeError``, and a command that stopped there would stop
half-way (``restart`` had stopped the deployment and never started it again). Wrapped
in :class:`ReaderMayLeave`, the first failed write points standard output at
``/dev/null`` and the command goes on to its end and its own exit status, silently.

Commands that stream until their reader leaves (``logs -f``) or run a service (``up``,
``conductor``, ``node``) keep the plain stream: for them the broken pipe is the signal.
"""

from __future__ import annotations

import sys
from typing import Any, TextIO, cast

from ._table import quiet_stdout

#: Commands for which a reader that left is a signal, not noise.
STREAMERS = frozenset({"up", "logs", "conductor", "node"})


class ReaderMayLeave:
    """A text stream that turns a broken pipe into silence (see the module)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except BrokenPipeError:
            quiet_stdout()
            return len(text)

    def flush(self) -> None:
        try:
            self._stream.flush()
        except BrokenPipeError:
            quiet_stdout()
            self._stream.flush()  # what the buffer held goes to /dev/null now

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def guard_stdout(command: str | None) -> None:
    """Wrap standard output for ``command`` unless it is one of :data:`STREAMERS`."""
    if command is None or command in STREAMERS or isinstance(sys.stdout, ReaderMayLeave):
        return
    sys.stdout = cast(TextIO, ReaderMayLeave(sys.stdout))  # print() needs write and flush
