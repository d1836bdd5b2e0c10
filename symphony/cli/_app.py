"""The root parser, the dispatch to command handlers, and the exit-status rules.

Exit status: 0 success (including a stop by SIGINT/SIGTERM), 1 a runtime error
reported as one ``symphony: error: ...`` line, 2 a usage error (argparse's own),
3 a ``--wait`` whose ``--timeout`` passed, 130 an interrupt before the service took
over signal handling.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import TYPE_CHECKING, Any

from symphony import __version__

from .handoff import HANDOFF_ENV

if TYPE_CHECKING:
    import argparse

# argparse is imported where a parser is built, and so are the command registry, the
# flags' checks and the guard of stdout: the second image of a Conductor or a node
# agent (symphony.cli.handoff) runs without them.

PROG = "symphony"
DESCRIPTION = """\
Symphony: a user-space job orchestrator. A Conductor keeps the desired state; Nodes
connect out to it over mutual TLS and run jobs as plain processes.

  symphony --config FILE          run what the file's 'mode' says (conductor or node)
  symphony conductor [flags]      run a Conductor; flags override --config FILE
  symphony node [flags]           run a Node; flags override --config FILE
"""


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    """The full ``symphony`` parser, every registered command included; with ``only``
    (a command's name), the root and that command's module only."""
    import argparse

    from ._registry import register_all
    from .service_flags import checked

    parser = argparse.ArgumentParser(
        prog=PROG, description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--version", action="version", version=f"symphony {__version__}")
    # Distinct dests: argparse lets a sub-parser's defaults overwrite the root's values,
    # so `symphony --config f node` would otherwise lose f.
    parser.add_argument(
        "--config",
        dest="root_config",
        metavar="FILE",
        help="configuration file (YAML) to run when no command is given",
    )
    parser.add_argument(
        "--mode", dest="root_mode", choices=("conductor", "node"), help="override the file's 'mode'"
    )
    parser.add_argument(
        "--log-level",
        dest="root_log_level",
        metavar="LEVEL",
        type=checked("log_level"),
        help="override logging.level (DEBUG, INFO, WARNING, ERROR)",
    )
    parser.set_defaults(handler=None)
    subparsers = parser.add_subparsers(title="commands", metavar="COMMAND")
    register_all(subparsers, only=only)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``symphony``; returns the exit status (argparse exits 2 itself)."""
    return _main(argv, own_command_line=argv is None)


def _main(argv: list[str] | None, *, own_command_line: bool) -> int:
    if own_command_line and HANDOFF_ENV in os.environ:
        # The second image of `symphony conductor` or `symphony node`: its configuration
        # is validated already, and building the parser (every command's module) would
        # only cost memory.
        from .service import run_handed_over

        return run_handler(run_handed_over, None)
    from ._reader import guard_stdout
    from ._registry import command_of, first_word, is_command, unknown_command_text

    # Only the named command's module: `symphony ps` need not import and build every
    # other command's parser (help on the root, or no known command, gets them all).
    words = sys.argv[1:] if argv is None else argv
    parser = build_parser(command_of(words))
    word = first_word(words)
    if word is not None and not is_command(word):
        parser.error(unknown_command_text(word))  # exits 2, like argparse's own refusal
    args = parser.parse_args(argv)
    # The process runs as this command (not as a program calling main([...])): it may
    # re-execute itself (symphony.cli.handoff).
    args.own_command_line = own_command_line
    handler = args.handler
    guard_stdout(command_of(words) if handler is not None else None)
    if handler is None:
        if args.root_config is None:
            parser.error("give a command, or --config FILE")  # exits 2, like any usage error
        from .service import run_root

        handler = run_root
    return run_handler(handler, args)


def run_handler(handler: Any, args: argparse.Namespace | None, prog: str = PROG) -> int:
    """``handler(args)`` with the exit-status rules: an error is one ``PROG: error:``
    line and status 1, an interrupt 130."""
    try:
        status: int = handler(args)
        return status
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        print(f"{prog}: error: {_one_line(exc)}", file=sys.stderr)
        logging.getLogger("symphony.cli").debug("details", exc_info=True)
        return 1


def conductor_main() -> int:
    """Entry point of ``symphony-conductor``: ``symphony conductor ARGS``."""
    return _main(["conductor", *sys.argv[1:]], own_command_line=True)


def node_main() -> int:
    """Entry point of ``symphony-node``: ``symphony node ARGS``."""
    return _main(["node", *sys.argv[1:]], own_command_line=True)


def _one_line(exc: BaseException) -> str:
    """A single line for the error. Ours (and the OS's) are sentences written for the
    reader, printed as they are; anything else is a bug, so its type is kept."""
    from symphony.actors import ActorError
    from symphony.errors import SymphonyError

    text = " ".join(str(exc).split())
    if isinstance(exc, SymphonyError | ActorError | OSError) and text:
        return text
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
