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

import contextlib
import gc
import os
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import Any

GAP = "   "
NONE = "-"


@contextlib.contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Run the block without CPython's cycle collector (reference counting still frees).

    A listing of thousands decodes into tens of thousands of lists and dicts, none in a
    cycle, and each collection walks all of them again: a fifth of ``symphony ps``'s
    decoding time on 10,000 deployments. Collection resumes as it was after the block.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def cell(value: Any) -> str:
    """A value as table text: ``None`` is ``-``, line breaks become spaces, and what a
    terminal would act on instead of showing (escape sequences, bell, bidi overrides)
    is written as its escape (``\\x1b``, ``\\u202e``): a job's command or a reason is
    anyone's text, and must not clear the screen or reorder a row."""
    if value is None or value == "":
        return NONE
    text = " ".join(str(value).split())
    return text if text.isprintable() else "".join(map(_shown, text))


def _shown(char: str) -> str:
    return char if char.isprintable() else ascii(char)[1:-1]


def table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Left-aligned columns, headers first; the last column is not padded."""
    columns = [_texts(column) for column in zip(*rows, strict=True)] or [[] for _ in headers]
    padded = [
        [text.ljust(width) for text in (header, *column)]
        for header, column in zip(headers[:-1], columns, strict=False)
        for width in [max([len(header), *map(len, column)])]
    ]
    last = [headers[-1], *columns[-1]]
    return "\n".join(GAP.join(line).rstrip() for line in zip(*padded, last, strict=True))


def _texts(values: Iterable[Any]) -> list[str]:
    """Each value's :func:`cell`, made once per distinct value (a column of thousands
    repeats its states, nodes and reasons)."""
    made: dict[tuple[type, Any], str] = {}
    texts = []
    for value in values:
        try:  # keyed by type too: 1, 1.0 and True are equal keys but not equal texts
            text = made.get((value.__class__, value))
            if text is None:
                text = made[value.__class__, value] = cell(value)
        except TypeError:  # unhashable (a list): not kept
            text = cell(value)
        texts.append(text)
    return texts


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


class Ages:
    """:func:`age` for many rows at one ``now``, each text made once: a table of
    thousands has far fewer distinct ages than rows."""

    def __init__(self, now: float) -> None:
        self.now = now
        self._texts: dict[float, str] = {}

    def since(self, since: float | None) -> str:
        if since is None:
            return NONE
        seconds = max(0.0, self.now - since)
        # What duration() shows depends only on this: tenths below 10 s, else whole seconds.
        key = round(seconds, 1) if seconds < 10 else float(int(seconds)) + 10
        text = self._texts.get(key)
        if text is None:
            text = self._texts[key] = duration(seconds)
        return text


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


def clock(at: float | None, zone: str | None = None) -> str:
    """A timestamp as ``YYYY-MM-DD HH:MM:SS``: local, or in the IANA time ``zone``."""
    if at is None:
        return NONE
    import datetime as dt  # here, not at the top: `symphony --help` builds this module's parser

    tz = None
    if zone is not None:
        import zoneinfo

        tz = zoneinfo.ZoneInfo(zone)
    return dt.datetime.fromtimestamp(at, tz).strftime("%Y-%m-%d %H:%M:%S")


def exit_text(exit_code: int | None, signal: Any) -> str:
    """How a run ended: the exit code, or the signal's name (``SIGKILL``)."""
    if signal is not None:
        # Imported here: this module is loaded by the node's runtime too, which must not
        # load the client package (and with it http.client; tests/test_node_memory.py).
        from symphony.client.settle import signal_name

        return signal_name(signal)
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
