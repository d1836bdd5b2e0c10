"""Following a job's log as it grows: ``async for line in follow_file(path)``.

The job's logger appends to the file, so following is polling: every ``poll_interval``
a :class:`~.logcursor.LogCursor` looks for new bytes. Reads are bounded (``chunk`` bytes
per step, with a checkpoint in between) so a job writing 100 MB/s cannot hog the agent's
event loop. The cursor follows the file through the logger's renames, so no line is
missed at a rotation.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import trio

from .logcursor import LogCursor


def follow_file(
    path: str,
    *,
    from_start: bool = False,
    poll_interval: float = 0.2,
    chunk: int = 1 << 20,
) -> AsyncIterator[str]:
    """Yield each new line of ``path`` (without its newline) until cancelled.

    Starts at the end of the file as it is *when this is called* (not at the first
    iteration), unless ``from_start``. A final line without a newline is held back
    until it is completed, or until it reaches ``chunk`` bytes.
    """
    cursor = LogCursor.at_start(path) if from_start else LogCursor.at_end(path)
    return _follow(cursor, poll_interval, chunk)


async def _follow(cursor: LogCursor, poll_interval: float, chunk: int) -> AsyncIterator[str]:
    partial = b""
    try:
        while True:
            data = cursor.read(chunk)
            if not data:
                await trio.sleep(poll_interval)
                continue
            partial += data
            *lines, partial = partial.split(b"\n")
            if len(partial) >= chunk:  # a "line" this long is output without newlines
                lines.append(partial)
                partial = b""
            for line in lines:
                yield line.decode(errors="replace")
            await trio.lowlevel.checkpoint()
    finally:
        cursor.close()
