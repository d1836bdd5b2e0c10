"""The Node: runs jobs as plain processes and keeps an outbound link to the Conductor.

Start one inside your own Trio program with ``await nursery.start(run_node, config)``;
the ``symphony node`` command does the same.
"""

from .service import NodeCredentialsError, NodeHandle, build_tree, run_node

__all__ = ["NodeCredentialsError", "NodeHandle", "build_tree", "run_node"]
