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

Importing this package imports nothing else: the console scripts import their entry
point from here, and a Ctrl-C while the command's modules load must end as any other
interrupt does (exit status 130, no traceback), so those modules load inside the entry
points' own ``try``. The other public names load on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._app import build_parser
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

#: Exit status of a command interrupted (Ctrl-C) before a service took over signals.
INTERRUPTED = 130

_LAZY = {
    "CLIError": "._errors",
    "SymphonyParser": ".project",
    "build_parser": "._app",
    "run_service": ".runner",
}


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``symphony``; returns the exit status (argparse exits 2 itself)."""
    return _interruptible("main", argv)


def conductor_main() -> int:
    """Entry point of ``symphony-conductor``: ``symphony conductor ARGS``."""
    return _interruptible("conductor_main")


def node_main() -> int:
    """Entry point of ``symphony-node``: ``symphony node ARGS``."""
    return _interruptible("node_main")


def _interruptible(entry: str, *args: Any) -> int:
    """``_app.<entry>(*args)``, its imports included, with Ctrl-C as exit status 130."""
    try:
        from . import _app

        status: int = getattr(_app, entry)(*args)
        return status
    except KeyboardInterrupt:
        return INTERRUPTED


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
