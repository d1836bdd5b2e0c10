"""Names a package exports but imports only when first used.

A package whose ``__init__`` imported every submodule would make each process pay for
all of them: a serving Conductor for the configuration's file reading, the node's
monitor for the agent's classes. Such a package keeps a table of its lazy names (name
-> submodule) and a module ``__getattr__`` that calls :func:`attribute` (imported under
a private name, so that the package exposes nothing outside its ``__all__``)::

    from symphony import lazy as _lazy

    _LAZY = {"load_config": "_load"}

    def __getattr__(name: str) -> Any:
        return _lazy.attribute(__name__, _LAZY, globals(), name)
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping, MutableMapping
from typing import Any


def attribute(
    package: str, lazy: Mapping[str, str], namespace: MutableMapping[str, Any], name: str
) -> Any:
    """``name`` of ``package``, from its submodule ``lazy[name]``, then kept in the
    package's ``namespace`` as if imported there (the next lookup is a plain one). A
    name not in ``lazy`` is an :class:`AttributeError`, as for any module; an error
    while the submodule is imported is raised as it is."""
    module = lazy.get(name)
    if module is None:
        raise AttributeError(f"module {package!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{package}.{module}"), name)
    namespace[name] = value
    return value
