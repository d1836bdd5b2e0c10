"""The ``symphony`` command (filled in by the CLI issue)."""

import sys


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``symphony``."""
    print("symphony: the command line arrives with the API/CLI work", file=sys.stderr)
    return 2


def conductor_main() -> int:
    """Entry point of ``symphony-conductor``."""
    return main(["conductor", *sys.argv[1:]])


def node_main() -> int:
    """Entry point of ``symphony-node``."""
    return main(["node", *sys.argv[1:]])
