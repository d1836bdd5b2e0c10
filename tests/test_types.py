"""The type hints are checked, not decorative: ``mypy`` (strict, configured in
pyproject.toml) finds no error in symphony/, and it does see the constructors that
``@message`` builds.

mypy is in the ``test`` extras, so the README's test command runs these; they are
skipped only where mypy is not installed.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.skipif(
        importlib.util.find_spec("mypy") is None,
        reason="mypy is not installed (pip install -e '.[test]')",
    ),
    # A first run without mypy's cache takes ~20 s alone, and longer on a busy machine.
    pytest.mark.timeout(600),
]


def _mypy(*args: str) -> subprocess.CompletedProcess[str]:
    # MYPYPATH: a snippet imports this checkout's symphony, not an installed copy.
    env = {**os.environ, "MYPYPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, "-m", "mypy", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=580,
    )


def test_types_mypy_strict_finds_no_errors() -> None:
    run = _mypy()  # files and strictness come from [tool.mypy] in pyproject.toml
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout.startswith("Success: no issues found"), run.stdout


def test_types_message_constructors_are_checked(tmp_path: Path) -> None:
    snippet = tmp_path / "snippet.py"
    snippet.write_text(
        "from symphony.wire import Heartbeat, StopInstance\n"
        "Heartbeat(seq='1')\n"  # line 2: a str for an int
        "StopInstance(instance_id='i', bogus=1)\n"  # line 3: no such field
        "StopInstance('i')\n"  # line 4: fields are keyword-only
        "Heartbeat(seq=1).seq = 2\n"  # line 5: messages are frozen
    )
    out = _mypy(str(snippet)).stdout
    for line, code in ((2, "arg-type"), (3, "call-arg"), (4, "call-arg"), (5, "misc")):
        assert any(
            # mypy's cache may name an earlier run's copy of the same file: match the name
            f"snippet.py:{line}: error:" in row and row.endswith(f"[{code}]")
            for row in out.splitlines()
        ), f"line {line}: no [{code}] error in\n{out}"
