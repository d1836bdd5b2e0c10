"""Job log files: where they live, how they rotate, and reading their last lines.

A job's stdout and stderr are pipes to its logger (``joblogger``), a small process that
the monitor starts beside the job and that writes the files. Layout under the node's
state dir::

    logs/<instance_id>/stdout.log   stdout.log.1 ... stdout.log.<backups>
    logs/<instance_id>/stderr.log   ...

Rotation is by **rename**, done by the logger when the live file would pass
``log_max_bytes``: ``.1`` -> ``.2`` ... (the oldest falls off, so at most
``log_backups`` remain), the live file -> ``.1``, then a new live file. It happens at a
line boundary, so no line is lost or split (only a line longer than a whole file is
cut), and the disk use is at most ``(log_backups + 1) * log_max_bytes`` plus one line
per file. Reading across rotations: :mod:`.logcursor`.
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
    return stream


def log_path(state_dir: str, instance_id: str, stream: str) -> str:
    """The live log file of one stream of one instance."""
    check_stream(stream)
    return os.path.join(state_dir, "logs", check_instance_id(instance_id), f"{stream}.log")


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
    """The last ``n`` lines of a rotated log, reaching into (at most ``backups``) backups."""
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
