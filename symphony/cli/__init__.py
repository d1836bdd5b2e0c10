"""The ``symphony`` command line.

    symphony --config conductor.yaml           # run what the file's ``mode`` says
    symphony conductor --http 127.0.0.1:8000   # flags override the file (or the defaults)
    symphony node --config node.yaml --node-id gpu-box-2
    symphony version

``symphony-conductor`` and ``symphony-node`` are ``symphony conductor`` and ``symphony
node``. Each command group lives in its own module, listed in :mod:`._registry`; heavy
modules (trio, the conductor, the node) are imported only by the command that runs
them, so ``symphony --help`` stays fast. :func:`run_service` is the signal-aware runner
the long-running commands share.
"""

from ._app import build_parser, conductor_main, main, node_main
from ._errors import CLIError
from .project import SymphonyParser
from .runner import run_service

__all__ = [
    "CLIError",
    "SymphonyParser",
    "build_parser",
    "conductor_main",
    "main",
    "node_main",
    "run_service",
]
