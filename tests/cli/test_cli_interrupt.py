"""A Ctrl-C at any moment of a command's start-up ends it quietly with exit status 130.

The interrupt must land while the command's modules are still loading, every time: a
test that sends SIGINT "soon after start" races the imports and proves nothing when it
loses. So the console script (the real one, beside the interpreter) runs under a small
launcher that installs an import hook first; the hook sends the process SIGINT itself
when the named module starts to load, so the KeyboardInterrupt rises from inside that
import, deterministically. No sitecustomize, no hook in the product.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from .test_up_e2e import BIN, clean_env

LAUNCHER = """
import os, runpy, signal, sys

target, script, sys.argv = sys.argv[1], sys.argv[2], sys.argv[2:]

class InterruptOnImport:
    def find_spec(self, name, path=None, target_module=None):
        if name == target:
            sys.meta_path.remove(self)
            print(f"SIGINT while importing {name}", file=sys.stderr, flush=True)
            os.kill(os.getpid(), signal.SIGINT)
        return None

sys.meta_path.insert(0, InterruptOnImport())
runpy.run_path(script, run_name="__main__")
"""


@pytest.mark.parametrize(
    "module",
    [
        "symphony.cli._app",  # the first module the entry point loads
        "symphony.cli._table",  # one imported by another, a level down
        "argparse",  # while the command line's parser is being built
    ],
)
def test_ctrl_c_while_the_command_loads_exits_130_quietly(tmp_path: Path, module: str) -> None:
    launcher = tmp_path / "launch.py"
    launcher.write_text(LAUNCHER)
    result = subprocess.run(
        [sys.executable, str(launcher), module, str(BIN / "symphony"), "up", "--port", "0"],
        cwd=tmp_path,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert f"SIGINT while importing {module}" in result.stderr  # the hook did fire
    assert "Traceback" not in result.stderr, result.stderr
    assert "KeyboardInterrupt" not in result.stderr, result.stderr
    assert result.returncode == 130, result.stderr
    assert not (tmp_path / ".symphony").exists()  # stopped before `up` began its work
