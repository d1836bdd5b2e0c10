"""Asking before a command removes things: ``db`` always, ``rm --regex`` when it matches several.

A pattern is easy to get wider than meant (``rm --regex web`` also finds ``webhooks``), and
what it removes cannot be brought back, so the command lists what it found and asks.
``rm`` asks only a person: with no terminal on standard input (a script, a pipe) it
refuses instead of waiting for an answer that may never come, and names the flag that
answers yes in advance. (``db`` reads its answer from standard input, whatever that is.)
"""

from __future__ import annotations

import sys

#: Names listed in a question; past this many, the rest are counted.
SHOWN = 20


def confirm(question: str) -> bool:
    """``question [y/N]`` on standard input: yes only for ``y`` or ``yes``."""
    try:
        answer = input(f"{question} [y/N] ")
    except EOFError:
        return False
    return answer.strip().lower() in ("y", "yes")


def listed(names: list[str]) -> str:
    """``a, b, c``: at most :data:`SHOWN` of them, then ``and N more`` (pure, for tests).

    >>> listed(["a", "b"])
    'a, b'
    """
    shown = ", ".join(names[:SHOWN])
    return shown if len(names) <= SHOWN else f"{shown} and {len(names) - SHOWN} more"


def on_a_terminal() -> bool:
    """Whether a person can answer: standard input is a terminal."""
    try:
        return sys.stdin is not None and sys.stdin.isatty()
    except ValueError:  # closed
        return False
