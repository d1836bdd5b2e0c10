"""Client commands find ``symphony up``'s state from a subdirectory, and say where they
looked when there is none."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from .test_up_e2e import clean_env, symphony_up

BIN = Path(sys.executable).parent
SEARCHED = ("./.symphony", "./storage", "SYMPHONY_STATE_DIR", "SYMPHONY_URL", "SYMPHONY_TOKEN")


def run(cwd: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith("SYMPHONY_")}
    return subprocess.run(
        [str(BIN / "symphony"), *args],
        cwd=cwd,
        env={**base, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_cli_finds_state_from_a_subdirectory_and_names_the_search_otherwise(
    tmp_path: Path,
) -> None:
    project, elsewhere = tmp_path / "project", tmp_path / "elsewhere"
    deep = project / "src" / "pkg"
    deep.mkdir(parents=True)
    elsewhere.mkdir()
    assert not clean_env().get("SYMPHONY_STATE_DIR")
    with symphony_up(project):
        url = json.loads((project / ".symphony" / "conductor.json").read_text())["url"]

        result = run(deep, "ps", "--json")  # no flag, no variable: the parent's .symphony
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout) == []

        # The right Conductor, but no token anywhere: say what was searched.
        for command in (("ps",), ("token", "list")):
            result = run(elsewhere, *command, SYMPHONY_URL=url)
            assert result.returncode == 1
            lines = result.stderr.splitlines()
            assert len(lines) == 1, result.stderr
            assert f"the Conductor at {url} wants an API token and none was found" in lines[0]
            for place in (*SEARCHED[:3], "SYMPHONY_TOKEN", str(elsewhere)):
                assert place in lines[0], place

        # Nothing at all: whatever answers (or not) at the default address, the line
        # names every place and variable that was searched.
        result = run(elsewhere, "ps")
        assert result.returncode == 1
        assert len(result.stderr.splitlines()) == 1, result.stderr
        for place in SEARCHED:
            assert place in result.stderr, place
