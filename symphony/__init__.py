"""Symphony: a user-space job orchestrator built as an actor runtime on Trio.

The embeddable runtime lives in :mod:`symphony.actors`; the Conductor and the Node
are built from it. See ``docs/`` for guides.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
