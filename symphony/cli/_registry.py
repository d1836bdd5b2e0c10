"""The command groups of ``symphony``: one module each, registered in this order.

A command module defines ``register(subparsers)``, which adds its sub-parsers and sets
``handler=<function(args) -> int>`` on each. Adding a command (``up``, ``deploy``,
``ps``...) is a new module and one line here; no other command changes. Modules must be
cheap to import: they build parsers only and import what they run inside the handler.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse

COMMAND_MODULES: tuple[str, ...] = (
    "symphony.cli.up",  # up
    "symphony.cli.deploy",  # deploy
    "symphony.cli.ps",  # ps, nodes
    "symphony.cli.logs",  # logs, events
    "symphony.cli.experiments",  # launch, list-experiments/ls, delete/d, delete-batch/db, se
    "symphony.cli.process",  # process/p, visit/vi
    "symphony.cli.portforward",  # port-forward/pf
    "symphony.cli.runs",  # runs (of scheduled deployments)
    "symphony.cli.control",  # stop, start, scale, rm
    "symphony.cli.drain",  # drain, undrain
    "symphony.cli.rollout",  # history, rollback, promote
    "symphony.cli.service",  # conductor, node (and the root --config run)
    "symphony.cli.token",  # token create, list, revoke
    "symphony.cli.secret",  # secret set, ls, rm
    "symphony.cli.restart",  # restart
    "symphony.cli.version",  # version
    "symphony.cli.completion",  # completion bash|zsh|fish
)


def register_all(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Let every command module add its sub-commands to ``subparsers``."""
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(subparsers)
