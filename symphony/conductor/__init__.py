"""The Conductor: desired state, node sessions, scheduling, the HTTP API.

Start one inside your own Trio program with ``await nursery.start(run_conductor,
config)``; the ``symphony conductor`` command does the same.

The service is imported on first use of one of these names, so a client that needs only
a pure part (``symphony deploy`` asks :mod:`.placement` why a job cannot be placed)
does not pay the ~0.4 s import of the whole server.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .service import ConductorInfo, build_tree, run_conductor

__all__ = ["ConductorInfo", "build_tree", "run_conductor"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from . import service

        return getattr(service, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
