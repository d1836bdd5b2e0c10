"""The one error a spec can raise, and the translation of pydantic's errors into it.

Every problem is reported as ``{"path": "restart_policy.type", "message": "..."}`` so
that the HTTP API (a 422 ``detail``), the CLI and YAML loaders can all show the same
field path a person can find in their file. Paths use dots for fields and ``[i]`` for
list items: ``config.command[0]``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from symphony.errors import SymphonyError

# Fields that exist in the seed spec's vocabulary but are not built yet. They are refused
# with this message instead of "unknown field", and never silently ignored.
# (``config.image`` and ``config.env_name`` were here until the node learnt to fetch code
# and enter environments.)
NOT_SUPPORTED: dict[tuple[str, ...], str] = {}


class SpecError(SymphonyError, ValueError):
    """A deployment spec was refused.

    ``errors`` lists every problem found, each a ``{"path", "message"}`` dict; ``str()``
    joins them into one line for logs and the CLI.
    """

    def __init__(self, errors: Sequence[dict[str, str]]) -> None:
        self.errors: list[dict[str, str]] = [dict(e) for e in errors]
        super().__init__("; ".join(_one_line(e) for e in self.errors) or "invalid spec")


def _one_line(error: dict[str, str]) -> str:
    return f"{error['path']}: {error['message']}" if error["path"] else error["message"]


def format_path(loc: Iterable[Any]) -> str:
    """``("config", "command", 0)`` -> ``"config.command[0]"``.

    A key that is not printable text (a control character, a lone surrogate) is shown
    quoted and escaped, ``config.env['A\\x01']``, so the path itself is always safe to
    print and to encode as JSON.
    """
    out = ""
    for part in loc:
        if part == "[key]":  # pydantic marks a bad dict key this way; the message names it
            continue
        if isinstance(part, int):
            out += f"[{part}]"
        elif not str(part).isprintable():
            out += f"[{str(part)!a}]"
        else:
            out += f".{part}" if out else str(part)
    return out
