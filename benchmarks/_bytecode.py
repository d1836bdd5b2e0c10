"""Compile Symphony's modules to bytecode once, before many interpreters import them.

Python caches each module's compiled code in ``__pycache__`` beside its source, but not
when bytecode writing is turned off (``PYTHONDONTWRITEBYTECODE``, which some machines
set for every process) or the package is installed editable from a tree nobody compiled.
Then every interpreter compiles every module it imports again: a Conductor's start
compiles about 170 of ours, half a second of CPU. An installed wheel has its bytecode
written by the installer, so that is what users run; the benchmarks and the test suite,
which start hundreds of interpreters from the source tree, compile it once first so their
figures and their time are those of an installed Symphony.

Python still *reads* a cached file when writing is off, and checks it against the
source's size and modification time, so an edited module is never run from stale
bytecode.
"""

from __future__ import annotations

import compileall
import os
from pathlib import Path

import symphony

__all__ = ["compile_symphony"]


def compile_symphony() -> None:
    """Write missing or stale bytecode for the ``symphony`` and ``benchmarks`` packages.

    Cheap when everything is current (a header check per module). A tree we may not
    write to is left as it is: its interpreters compile in memory, as before.
    """
    for root in (Path(symphony.__file__).parent, Path(__file__).parent):
        if os.access(root, os.W_OK):
            compileall.compile_dir(root, quiet=1, workers=1)
