"""Options anywhere between a command's positionals: ``symphony ps web -a api``.

Python 3.11's argparse fills every positional from the first run of positional words:
in ``ps web -a api`` the ``NAME...`` list ends at ``-a``, and ``api`` is left over
("unrecognized arguments", exit 2); so is ``9000`` in ``pf svc -e rl 9000``. Its
``parse_intermixed_args`` takes the options first and then the positionals, but only on
a parser without sub-commands, so the root cannot use it: each command whose
positionals are optional turns it on for its own parser with :func:`intermixed`
(``symphony``'s and a :class:`SymphonyParser`'s alike). Newer Pythons parse these
orders themselves; this changes nothing there.

``--`` ends the options, as everywhere: ``secret set -- -bad`` names ``-bad``. Python's
intermixed parsing (3.11 to 3.13 at least) loses that: its first pass, options only,
drops the ``--`` and hands ``-bad`` to the second, positionals only, which takes it for
an option and reports NAME missing. So the first pass here sees only the words before
``--``, and the second gets ``--`` and the words after it back.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any


class IntermixedParser(argparse.ArgumentParser):
    """A command's parser whose options may come between its positionals."""

    _inside = False
    #: argparse's own calls of :meth:`parse_known_args` in this parse (the first: options)
    _passes = 0
    #: The list ``dest`` that takes the words the parser does not know, instead of
    #: argparse's "unrecognized arguments: ..." that repeats them (``None``: an error).
    unknown_into: str | None = None

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: Any = None
    ) -> tuple[Any, list[str]]:
        # parse_known_intermixed_args calls parse_known_args itself (twice, positionals
        # first turned off, then on): those calls are argparse's own.
        if self._inside:
            self._passes += 1
            if self._passes == 1 and args is not None and "--" in args:
                # Options come only before ``--``; the words after it are positionals,
                # whatever they look like: kept with their ``--`` for the second pass.
                at = list(args).index("--")
                found, rest = super().parse_known_args(args[:at], namespace)
                return found, [*rest, *args[at:]]
            return super().parse_known_args(args, namespace)
        unknown: list[str] = []
        args = sys.argv[1:] if args is None else list(args)  # the words, to find ``--`` in
        if self.unknown_into is not None:
            args, unknown = self._unknown_options(args)
        self._inside, self._passes = True, 0
        try:
            found, extras = self.parse_known_intermixed_args(args, namespace)
        finally:
            self._inside = False
        if self.unknown_into is not None and (unknown or extras):
            taken = getattr(found, self.unknown_into, None) or []
            setattr(found, self.unknown_into, [*taken, *unknown, *extras])
            extras = []
        return found, extras

    def _unknown_options(self, args: Sequence[str]) -> tuple[list[str], list[str]]:
        """``(the words argparse is to see, the option-like words it does not define)``.

        Taken out before argparse sees them: it would repeat them in its error, and
        read ``-hunter2`` as ``-h`` with ``unter2`` (which it repeats too).
        """
        options = {option for action in self._actions for option in action.option_strings}
        kept: list[str] = []
        unknown: list[str] = []
        for at, word in enumerate(args):
            if word == "--":
                kept.extend(args[at:])
                break
            name = word.split("=", 1)[0] if word.startswith("--") else word
            looks_like_option = word.startswith("-") and word != "-"
            (unknown if looks_like_option and name not in options else kept).append(word)
        return kept, unknown


def intermixed(
    parser: argparse.ArgumentParser, *, unknown_into: str | None = None
) -> IntermixedParser:
    """``parser`` (a sub-command's, as ``add_parser`` made it), taking options anywhere;
    with ``unknown_into``, the words it does not know go to that list, not to an error."""
    if not isinstance(parser, IntermixedParser):
        kind = type(parser)
        parser.__class__ = (
            IntermixedParser
            if kind is argparse.ArgumentParser
            else type(f"Intermixed{kind.__name__}", (IntermixedParser, kind), {})
        )
    assert isinstance(parser, IntermixedParser)
    parser.unknown_into = unknown_into
    return parser
