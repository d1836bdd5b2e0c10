"""The command groups of ``symphony``: one module each, registered in this order.

A command module defines ``register(subparsers)``, which adds its sub-parsers and sets
``handler=<function(args) -> int>`` on each. Adding a command (``up``, ``deploy``,
``ps``...) is a new module and its line in :data:`COMMANDS`; no other command changes.
Modules must be cheap to import: they build parsers only and import what they run
inside the handler.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

#: Each command module, in help order, and the commands (aliases included) it adds.
COMMANDS: dict[str, tuple[str, ...]] = {
    "symphony.cli.up": ("up",),
    "symphony.cli.deploy": ("deploy",),
    "symphony.cli.ps": ("ps", "nodes"),
    "symphony.cli.logs": ("logs", "events"),
    "symphony.cli.experiments": (
        "launch",
        "list-experiments",
        "ls",
        "delete",
        "d",
        "delete-batch",
        "db",
        "switch-experiment",
        "se",
    ),
    "symphony.cli.process": ("process", "p", "visit", "vi"),
    "symphony.cli.portforward": ("port-forward", "pf"),
    "symphony.cli.runs": ("runs",),  # of scheduled deployments
    "symphony.cli.control": ("stop", "start", "scale", "rm"),
    "symphony.cli.drain": ("drain", "undrain"),
    "symphony.cli.rollout": ("history", "rollback", "promote"),
    "symphony.cli.service": ("conductor", "node"),  # and the root --config run
    "symphony.cli.token": ("token",),
    "symphony.cli.secret": ("secret",),
    "symphony.cli.restart": ("restart",),
    "symphony.cli.version": ("version",),
    "symphony.cli.completion": ("completion",),
}
COMMAND_MODULES: tuple[str, ...] = tuple(COMMANDS)
#: The root options that take a value (so a command line's command is not their value).
ROOT_VALUE_OPTIONS = ("--config", "--mode", "--log-level")


def register_all(
    subparsers: argparse._SubParsersAction[argparse.ArgumentParser], *, only: str | None = None
) -> None:
    """Let every command module add its sub-commands to ``subparsers``; with ``only`` (a
    command's name), just the module of that command: a command line runs one command,
    and importing and building every other module's parsers was most of a short
    command's parser time."""
    for name, commands in COMMANDS.items():
        if only is None or only in commands:
            importlib.import_module(name).register(subparsers)


def command_of(argv: Sequence[str]) -> str | None:
    """The command a command line names, when it is one of :data:`COMMANDS` and help on
    the root is not asked for; else None (then every command is registered: the root's
    help and its errors list them all)."""
    word = first_word(argv)
    return word if word is not None and is_command(word) else None


def is_command(word: str) -> bool:
    """Whether ``word`` is a command (or an alias) of ``symphony``."""
    return any(word in commands for commands in COMMANDS.values())


def first_word(argv: Sequence[str]) -> str | None:
    """The first word of a command line that is not a root option or its value: where
    the command goes. None when there is none, or help on the root is asked for."""
    rest = iter(argv)
    for arg in rest:
        if arg in ("-h", "--help", "--"):
            return None
        if arg.startswith("-"):
            # argparse takes unambiguous prefixes of long options (--conf FILE) too.
            if "=" not in arg and any(o.startswith(arg) for o in ROOT_VALUE_OPTIONS if arg[1:]):
                next(rest, None)
            continue
        return arg
    return None


def unknown_command_text(word: str) -> str:
    """The usage error for a command that does not exist, with the nearest one when a
    typo is likely (argparse would list all 40 choices instead, and suggest none)."""
    import difflib

    names = [name for commands in COMMANDS.values() for name in commands]
    near = difflib.get_close_matches(word, names, n=1, cutoff=0.75)
    hint = f"; did you mean {near[0]!r}?" if near else ""
    return f"unknown command {word!r}{hint} (`symphony --help` lists the commands)"
