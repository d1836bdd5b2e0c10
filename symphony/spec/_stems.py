"""The ``SYMPH_<STEM>_*`` names a process finds its services by.

Apart from the experiment model (:mod:`._experiment`) because the node agent needs only
this function: importing it there would load pydantic and build every spec model in the
agent, several MiB it would keep resident for nothing.
"""

from __future__ import annotations

__all__ = ["variable_stem"]


def variable_stem(name: str) -> str:
    """The ``SYMPH_<STEM>_*`` part of a service name: ``replay-server`` -> ``REPLAY_SERVER``."""
    return name.upper().replace("-", "_")
