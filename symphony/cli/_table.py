"""Plain-text tables and the small value formats the client commands print.

Deliberately tiny (no rich, no tabulate): ``symphony ps`` must start fast, and a table
of left-aligned columns separated by three spaces is what ``docker ps`` and ``kubectl
get`` users read and ``awk`` scripts parse.

    >>> print(table(["NAME", "STATE"], [["web", "running"], ["batch-job", "exited"]]))
    NAME        STATE
    web         running
    batch-job   exited
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

GAP = "   "
NONE = "-"


def cell(value: Any) -> str:
    """A value as table text: ``None`` is ``-``, line breaks become spaces."""
    if value is None or value == "":
        return NONE
    return " ".join(str(value).split())


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Left-aligned columns, headers first; the last column is not padded."""
    lines = [list(headers), *([cell(v) for v in row] for row in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    out = []
    for line in lines:
        padded = [text.ljust(width) for text, width in zip(line[:-1], widths, strict=False)]
        out.append(GAP.join([*padded, line[-1]]).rstrip())
    return "\n".join(out)


def age(since: float | None, now: float) -> str:
    """How long ago, the way ``docker ps`` says it: ``42s``, ``5m``, ``3h``, ``2d``."""
    if since is None:
        return NONE
    seconds = max(0, int(now - since))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def clock(at: float | None) -> str:
    """A timestamp as local ``YYYY-MM-DD HH:MM:SS``."""
    if at is None:
        return NONE
    import datetime as dt  # here, not at the top: `symphony --help` builds this module's parser

    return dt.datetime.fromtimestamp(at).strftime("%Y-%m-%d %H:%M:%S")


def exit_text(exit_code: int | None, signal: Any) -> str:
    """How a run ended: the exit code, or the signal's name (``SIGKILL``)."""
    if signal is not None:
        if isinstance(signal, int):
            import signal as signals

            try:
                return signals.Signals(signal).name
            except ValueError:
                return f"signal {signal}"
        return str(signal)
    return NONE if exit_code is None else str(exit_code)


def size(num_bytes: float | None) -> str:
    """Bytes in binary units: ``512M``, ``15.6G``."""
    if num_bytes is None:
        return NONE
    value = float(num_bytes)
    for unit in ("B", "K", "M", "G", "T"):
        if value < 1024 or unit == "T":
            return f"{value:.0f}{unit}" if value >= 100 or unit == "B" else f"{value:.1f}{unit}"
        value /= 1024
    raise AssertionError("unreachable")


def capacities(total: Mapping[str, int], used: Mapping[str, int]) -> str:
    """``cpu 150/400, gpu 0/1``: what is reserved of what a node offers."""
    if not total:
        return NONE
    return ", ".join(f"{name} {used.get(name, 0)}/{amount}" for name, amount in total.items())


def emit(text: str) -> None:
    """Print ``text`` (a line is added); a reader that went away (``| head``) is no error."""
    try:
        sys.stdout.write(text if text.endswith("\n") else text + "\n")
        sys.stdout.flush()
    except BrokenPipeError:
        quiet_stdout()


def quiet_stdout() -> None:
    """Point stdout at /dev/null, so the interpreter's last flush does not fail again."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
