"""The Conductor: desired state, node sessions, scheduling, the HTTP API.

Start one inside your own Trio program with ``await nursery.start(run_conductor,
config)``; the ``symphony conductor`` command does the same.
"""

from .service import ConductorInfo, build_tree, run_conductor

__all__ = ["ConductorInfo", "build_tree", "run_conductor"]
