"""Every ```python block in the docs runs, and its printed output matches its comments."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

DOCS = Path(__file__).resolve().parent.parent / "docs"
BLOCK = re.compile(r"```python\n(.*?)```", re.DOTALL)
# "print(x)   # 120" promises that line of output; "# about ..." is only a hint.
# An example that runs a container says so; it is skipped where podman cannot run one.
NEEDS_PODMAN = "# needs: podman"
EXPECTED = re.compile(r"^\s*print\(.*\)\s*#\s*(?!about\b)(\S.*)$")


def examples() -> list[tuple[str, str]]:
    found = []
    for page in sorted(DOCS.glob("*.md")):
        for n, code in enumerate(BLOCK.findall(page.read_text())):
            found.append((f"{page.name}#{n}", code))
    return found


@pytest.mark.parametrize(("where", "code"), examples(), ids=[w for w, _ in examples()])
def test_docs_example_runs(where: str, code: str, tmp_path: Path) -> None:
    if NEEDS_PODMAN in code:
        from tests.containers.probe import podman_cannot_run

        if (reason := podman_cannot_run()) is not None:
            pytest.skip(reason)
    script = tmp_path / "example.py"
    script.write_text(code)
    result = subprocess.run(
        [sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert result.returncode == 0, f"{where} failed:\n{result.stderr}"
    printed = result.stdout.splitlines()
    promised = [m.group(1).strip() for line in code.splitlines() if (m := EXPECTED.match(line))]
    for expected in promised:
        if expected.endswith("..."):
            assert any(line.startswith(expected[:-3]) for line in printed), (where, expected)
        else:
            assert expected in printed, f"{where}: expected {expected!r} in {printed}"


def test_docs_have_examples() -> None:
    assert len(examples()) >= 4
