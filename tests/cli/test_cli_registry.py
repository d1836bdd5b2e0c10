"""The command table: a command line builds the parser of its own command only.

``symphony ps`` imports and builds ``ps``'s module alone; the table that says which
module adds which command must therefore be exactly what each module registers, and a
command line must be read the same with one module as with all of them.
"""

from __future__ import annotations

import argparse
import importlib

import pytest

from symphony.cli import build_parser
from symphony.cli._registry import COMMANDS, command_of


@pytest.mark.parametrize("module", list(COMMANDS))
def test_each_module_registers_exactly_the_commands_the_table_gives_it(module: str) -> None:
    subparsers = argparse.ArgumentParser().add_subparsers()
    importlib.import_module(module).register(subparsers)
    assert sorted(subparsers.choices) == sorted(COMMANDS[module])


def test_no_command_is_in_two_modules() -> None:
    names = [name for commands in COMMANDS.values() for name in commands]
    assert len(names) == len(set(names))


@pytest.mark.parametrize(
    ("argv", "command"),
    [
        (["ps", "-a"], "ps"),
        (["--log-level", "DEBUG", "ps"], "ps"),
        (["--log-level=DEBUG", "logs", "web"], "logs"),
        (["--conf", "ps", "node"], "node"),  # an abbreviated option takes its value
        (["--config", "f.yaml"], None),  # the root run: every command
        (["--help"], None),
        (["-h", "ps"], None),
        (["--version"], None),
        (["bogus"], None),  # the root's error lists every command
        (["pf", "web", "8080"], "pf"),
        ([], None),
    ],
)
def test_the_command_of_a_command_line(argv: list[str], command: str | None) -> None:
    assert command_of(argv) == command


@pytest.mark.parametrize(
    "argv",
    [
        ["ps", "-a", "-l", "team=ml", "--state", "running"],
        ["--log-level", "DEBUG", "logs", "web", "--tail", "5"],
        ["scale", "web", "3"],
        ["node", "--config", "node.yaml"],
        ["ls"],
    ],
)
def test_one_module_reads_a_command_line_as_all_of_them_do(argv: list[str]) -> None:
    alone = build_parser(command_of(argv)).parse_args(argv)
    every = build_parser().parse_args(argv)
    assert vars(alone) == vars(every)
