"""The suite and the benchmarks run Symphony from compiled bytecode, as an installed wheel does."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import symphony
from benchmarks._bytecode import compile_symphony

PACKAGE = Path(symphony.__file__).parent


def test_every_module_has_current_bytecode_after_compiling() -> None:
    compile_symphony()
    stale = []
    for source in PACKAGE.rglob("*.py"):
        cached = Path(importlib.util.cache_from_source(str(source)))
        if not cached.exists() or cached.stat().st_mtime_ns < source.stat().st_mtime_ns - 10**9:
            stale.append(source.relative_to(PACKAGE))
    assert not stale


def test_an_interpreter_with_writing_off_imports_the_conductor_without_compiling() -> None:
    """With bytecode writing off, a Conductor's imports compile nothing of ours."""
    compile_symphony()
    probe = (
        "import importlib.machinery as m, sys\n"
        "compiled = []\n"
        "original = m.SourceFileLoader.source_to_code\n"
        "def spy(self, data, path, **kw):\n"
        "    compiled.append(path)\n"
        "    return original(self, data, path, **kw)\n"
        "m.SourceFileLoader.source_to_code = spy\n"
        "import symphony.conductor.service\n"
        f"print(sum(1 for p in compiled if p.startswith({str(PACKAGE)!r})))\n"
    )
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "0"
