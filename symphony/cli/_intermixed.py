"""Options anywhere between a command's positionals: ``symphony ps web -a api``.

Python 3.11's argparse fills every positional from the first run of positional words:
in ``ps web -a api`` the ``NAME...`` list ends at ``-a``, and ``api`` is left over
("unrecognized arguments", exit 2); so is ``9000`` in ``pf svc -e rl 9000``. Its
``parse_intermixed_args`` takes the options first and then the positionals, but only on
a parser without sub-commands, so the root cannot use it: each command whose
positionals are optional turns it on for its own parser with :func:`intermixed`
(``symphony``'s and a :class:`SymphonyParser`'s alike). Newer Pythons parse these
orders themselves; this changes nothing there.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any


class IntermixedParser(argparse.ArgumentParser):
    """A command's parser whose options may come between its positionals."""

    _inside = False

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> tuple[Any, list[str]]:
        # parse_known_intermixed_args calls parse_known_args itself (twice, positionals
        # first turned off, then on): those calls are argparse's own.
        if self._inside:
            return super().parse_known_args(args, namespace)
        self._inside = True
        try:
            return self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inside = False


def intermixed(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    """``parser`` (a sub-command's, as ``add_parser`` made it), taking options anywhere."""
    if not isinstance(parser, IntermixedParser):
        kind = type(parser)
        parser.__class__ = (
            IntermixedParser
            if kind is argparse.ArgumentParser
            else type(f"Intermixed{kind.__name__}", (IntermixedParser, kind), {})
        )
    return parser
