"""The error a command raises for a problem the user can fix (exit status 1)."""

from symphony.errors import SymphonyError


class CLIError(SymphonyError):
    """A runtime problem reported as one line: ``symphony: error: <message>``, exit 1.

    Usage mistakes (an unknown flag, a malformed flag value) are argparse's business
    and exit 2; this is for what only shows when the command runs, such as a missing
    file or a runtime that cannot start.
    """
