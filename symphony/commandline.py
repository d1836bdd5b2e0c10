"""The seed's ``symphony.commandline``: extend :class:`SymphonyParser` for a project's
own command line with every experiment command in it (see ``docs/experiments.md``)."""

from symphony.cli import SymphonyParser

__all__ = ["SymphonyParser"]
