"""Job log files: where they live, how they rotate, and reading their last lines.

A job's stdout and stderr *are* files (the monitor opens them with ``O_APPEND`` and hands
the descriptors to the job), so the job never blocks on the node and keeps logging while
the agent is down. Layout under the node's state dir::

    logs/<instance_id>/stdout.log   stdout.log.1 ... stdout.log.<backups>
    logs/<instance_id>/stderr.log   ...

Rotation is **copy-truncate**, done by the monitor when a file passes ``log_max_bytes``:
shift the backups up by one (the oldest falls off, so at most ``log_backups`` remain),
copy the live file to ``.1`` in the kernel (``copy_file_range``: no bytes pass through
Python), then truncate the live file to zero. We cannot rename-and-reopen because the
job, not us, holds the descriptor and would keep writing into the renamed file. Thanks to
``O_APPEND`` the job's next write lands at the new end of file (no sparse hole). The price
is a tiny window: bytes written between the end of the copy and the truncate are lost.
The copy loops until it reaches the end of file, so the window is one syscall wide.

The monitor checks sizes periodically (more often right after a rotation, and once more
when the job ends). A file that grew far past the limit in between is cut into pieces of
``log_max_bytes``; only the newest ``log_backups`` pieces are kept, so neither the copy
work nor the disk use grows with the job's write rate: at most
``(log_backups + 1) * log_max_bytes`` plus what the job writes within one check
interval. Pieces are cut at byte offsets, so one line may straddle two files, and ``.1``
may hold up to a quarter of a piece more: what the job wrote during the rotation.
"""

from __future__ import annotations

import os
import re

STREAMS = ("stdout", "stderr")
_INSTANCE_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


def check_instance_id(instance_id: object) -> str:
    """Return ``instance_id`` if it is safe as a file name, else raise ValueError."""
    if not isinstance(instance_id, str) or not _INSTANCE_ID.fullmatch(instance_id):
        raise ValueError(
            "instance id must be 1-128 characters of letters, digits, '.', '_' or '-',"
            f" starting with a letter or digit; got {instance_id!r}"
        )
    return instance_id


def check_stream(stream: object) -> str:
    """Return ``stream`` if it is 'stdout' or 'stderr', else raise ValueError."""
    if stream not in STREAMS:
        raise ValueError(f"stream must be 'stdout' or 'stderr', got {stream!r}")
    return stream  # type: ignore[return-value]


def log_path(state_dir: str, instance_id: str, stream: str) -> str:
    """The live log file of one stream of one instance."""
    check_stream(stream)
    return os.path.join(state_dir, "logs", check_instance_id(instance_id), f"{stream}.log")


def _copy(src: int, dst: int, offset: int, count: int | None) -> None:
    """Copy ``count`` bytes (None: to end of file) of ``src`` from ``offset`` into ``dst``."""
    remaining = (1 << 62) if count is None else count
    try:
        while remaining > 0:
            copied = os.copy_file_range(src, dst, min(remaining, 1 << 24), offset)
            if copied == 0:
                return
            offset += copied
            remaining -= copied
    except OSError:  # old kernel or exotic file system: fall back to a user-space copy
        while remaining > 0 and (data := os.pread(src, min(remaining, 1 << 20), offset)):
            os.write(dst, data)
            offset += len(data)
            remaining -= len(data)


def _write_piece(src: int, target: str, offset: int, count: int | None) -> None:
    dst = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        _copy(src, dst, offset, count)
    finally:
        os.close(dst)


def rotate(path: str, backups: int, *, max_bytes: int | None = None) -> None:
    """Rotate ``path`` now (copy-truncate), keeping at most ``backups`` old files.

    A file that grew far past ``max_bytes`` between two checks is cut into pieces of
    ``max_bytes`` (newest in ``.1``), and only the newest ``backups`` pieces are copied:
    the work and the disk space stay bounded however fast the job writes.
    """
    src = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if backups > 0:
            size = os.fstat(src).st_size
            piece = max_bytes or max(size, 1)
            count = min(backups, max(1, -(-size // piece)))
            for index in range(backups, 0, -1):  # make room: shift old backups up by count
                older = f"{path}.{index}"
                if not os.path.exists(older):
                    continue
                if index + count > backups:
                    os.unlink(older)
                else:
                    os.replace(older, f"{path}.{index + count}")
            for index in range(count, 1, -1):
                start = max(0, size - index * piece)
                _write_piece(src, f"{path}.{index}", start, size - (index - 1) * piece - start)
            # The newest piece also takes what the job wrote during the copies (up to a
            # quarter of a piece more: a fast writer must not make .1 unbounded), right
            # before the truncate, which keeps the window of lost bytes small.
            _write_piece(src, f"{path}.1", max(0, size - piece), min(size, piece) + piece // 4)
        os.truncate(path, 0)
    finally:
        os.close(src)


def rotate_if_needed(path: str, *, max_bytes: int, backups: int) -> bool:
    """Rotate ``path`` if it is larger than ``max_bytes``; True if it did."""
    try:
        size = os.stat(path).st_size
    except FileNotFoundError:
        return False
    if size <= max_bytes:
        return False
    rotate(path, backups, max_bytes=max_bytes)
    return True


def _last_lines(path: str, n: int) -> list[str]:
    """The last ``n`` complete-or-final lines of one file, read backwards in blocks."""
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed below; 'with' would hide the early return
    except FileNotFoundError:
        return []
    with f:
        end = f.seek(0, os.SEEK_END)
        data = b""
        position = end
        while position > 0 and data.count(b"\n") <= n:
            step = min(65536, position)
            position -= step
            f.seek(position)
            data = f.read(step) + data
    lines = data.decode(errors="replace").splitlines()
    return lines[-n:] if n else []


def tail_lines(path: str, n: int, *, backups: int = 5) -> list[str]:
    """The last ``n`` lines of a rotated log, reaching into backups when needed."""
    if isinstance(n, bool) or not isinstance(n, int) or n < 0:
        raise ValueError(f"n must be a non-negative int, got {n!r}")
    lines = _last_lines(path, n)
    index = 1
    while len(lines) < n and index <= backups:
        older = f"{path}.{index}"
        if not os.path.exists(older):
            break
        lines = _last_lines(older, n - len(lines)) + lines
        index += 1
    return lines
