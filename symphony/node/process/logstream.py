"""Following a job's log file as it grows: ``async for line in follow_file(path)``.

The job writes straight into the file, so following is polling: every
``poll_interval`` we compare the size with our offset. Reads are bounded (``chunk``
bytes per step, with a checkpoint in between) so a job writing 100 MB/s cannot hog the
agent's event loop. When the file shrank below our offset it was rotated
(copy-truncate, see ``logfiles``): the bytes we had not read yet are at the same offsets
in ``<path>.1``, so we finish those first and start over at 0 in the live file. (If the
file rotated twice within one poll, the middle part is skipped.)
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import trio


def _size(path: str) -> int:
    try:
        return os.stat(path).st_size
    except FileNotFoundError:
        return 0


def _read(path: str, offset: int, limit: int) -> bytes:
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read(limit)
    except FileNotFoundError:
        return b""


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
    offset = 0 if from_start else _size(path)
    return _follow(path, offset, poll_interval, chunk)


async def _follow(path: str, offset: int, poll_interval: float, chunk: int) -> AsyncIterator[str]:
    partial = b""
    while True:
        size = _size(path)
        if size < offset:  # rotated: drain what we missed from the backup first
            backup = f"{path}.1"
            while offset < _size(backup):
                data = _read(backup, offset, chunk)
                if not data:
                    break
                offset += len(data)
                partial += data
                *lines, partial = partial.split(b"\n")
                for line in lines:
                    yield line.decode(errors="replace")
                await trio.lowlevel.checkpoint()
            offset = 0
            continue
        if size == offset:
            await trio.sleep(poll_interval)
            continue
        data = _read(path, offset, min(chunk, size - offset))
        offset += len(data)
        partial += data
        *lines, partial = partial.split(b"\n")
        if len(partial) >= chunk:  # a "line" this long is output without newlines
            lines.append(partial)
            partial = b""
        for line in lines:
            yield line.decode(errors="replace")
        await trio.lowlevel.checkpoint()
