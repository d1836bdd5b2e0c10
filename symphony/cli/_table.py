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


def duration(seconds: float | None) -> str:
    """A span of time, in the one format every command uses::

        3.8s   42s   5m3s   12m   5h3m   2d4h   12d

    Below 10 s with a tenth (whole seconds drop it: ``3s``); below a minute whole
    seconds; above, the largest unit, followed by the next smaller one while the first
    is a single digit (``5h3m``, but ``12h``), as ``kubectl`` shortens ages. Negative
    spans (clock skew, a restart already due) read ``0s``.

    >>> [duration(s) for s in (3.84, 42, 303, 720, 18180, 187200, None)]
    ['3.8s', '42s', '5m3s', '12m', '5h3m', '2d4h', '-']
    """
    if seconds is None:
        return NONE
    seconds = max(0.0, float(seconds))
    if seconds < 10:
        tenths = round(seconds, 1)
        return f"{tenths:g}s" if tenths < 10 else "10s"
    whole = int(seconds)
    if whole < 60:
        return f"{whole}s"
    units = (("d", 86400), ("h", 3600), ("m", 60), ("s", 1))
    for index, (unit, size) in enumerate(units):
        if whole >= size:
            count, rest = divmod(whole, size)
            text = f"{count}{unit}"
            next_unit, next_size = units[index + 1]
            if count < 10 and rest // next_size:
                text += f"{rest // next_size}{next_unit}"
            return text
    raise AssertionError("unreachable")


def age(since: float | None, now: float) -> str:
    """How long ago ``since`` was, as a :func:`duration`; ``-`` when unknown."""
    return NONE if since is None else duration(now - since)


def fit(text: str, width: int | None) -> str:
    """Cut each line of ``text`` to ``width`` characters (``...`` marks a cut); ``None``
    leaves it whole. The widest column is last in our tables, so that is what is cut."""
    if width is None:
        return text
    width = max(width, 10)
    return "\n".join(
        line if len(line) <= width else line[: width - 3] + "..." for line in text.splitlines()
    )


def terminal_width() -> int | None:
    """The terminal's width when standard output is one (``$COLUMNS`` wins), else
    ``None``: output for a pipe or a file is never cut, so scripts see whole lines."""
    import shutil

    try:
        if not sys.stdout.isatty():
            return None
    except (AttributeError, ValueError):  # replaced or closed stdout
        return None
    return shutil.get_terminal_size().columns


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
