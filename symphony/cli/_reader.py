"""Standard output whose reader may go away (``symphony restart web | head -1``).

A client command's lines are a report, not its work: when the pipe's reader leaves,
a write fails with ``BrokenPipeError``, and a command that stopped there would stop
half-way (``restart`` had stopped the deployment and never started it again). Wrapped
in :class:`ReaderMayLeave`, the first failed write points standard output at
``/dev/null`` and the command goes on to its end and its own exit status, silently.

Commands that stream until their reader leaves (``logs -f``) or run a service (``up``,
``conductor``, ``node``) keep the plain stream: for them the broken pipe is the signal.
A stream that may stay silent for hours (``logs -f`` of a job that prints nothing) would
only notice at its next write, so :func:`write_until_reader_leaves` also watches the
output itself: a pipe whose reader left reports ``POLLERR`` at once, as ``tail -f``
notices it.
"""

from __future__ import annotations

import contextlib
import os
import select
import sys
import threading
from collections.abc import Callable
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


def write_until_reader_leaves(next_chunk: Callable[[], str | None], out: TextIO) -> None:
    """Write each chunk ``next_chunk()`` gives (a newline added where it has none) until
    it gives ``None``; raise ``BrokenPipeError`` as soon as ``out``'s reader leaves, even
    while ``next_chunk`` waits. Its errors are raised here.

    ``next_chunk`` blocks in a socket read that nothing can wake, so it runs on a daemon
    thread, and this one waits for whichever comes first: that thread's end, or
    ``POLLERR``/``POLLHUP`` on ``out`` (asked for no events, poll reports only those).
    An output that is not a file descriptor (a test's buffer) has no reader to lose.
    """
    try:
        fd = out.fileno()
    except (AttributeError, OSError, ValueError):
        fd = None
    if fd is None:
        _write_all(next_chunk, out)
        return
    failed: list[BaseException] = []
    done_read, done_write = os.pipe()

    def pump() -> None:
        try:
            _write_all(next_chunk, out)
        except BaseException as exc:  # handed to the waiting thread, which raises it
            failed.append(exc)
        finally:
            with contextlib.suppress(OSError):  # the waiting thread went: the reader left
                os.write(done_write, b".")
            os.close(done_write)

    poller = select.poll()
    poller.register(fd, 0)
    poller.register(done_read, select.POLLIN)
    threading.Thread(target=pump, name="follow", daemon=True).start()
    try:
        while not (events := dict(poller.poll())):
            pass
    finally:
        os.close(done_read)  # the pump closes its own end when it ends
    if done_read not in events:
        raise BrokenPipeError(f"the reader of file descriptor {fd} left")
    if failed:
        raise failed[0]


def _write_all(next_chunk: Callable[[], str | None], out: TextIO) -> None:
    while (chunk := next_chunk()) is not None:
        out.write(chunk if chunk.endswith("\n") else chunk + "\n")
        out.flush()
