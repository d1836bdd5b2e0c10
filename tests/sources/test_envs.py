"""Named environments: real virtual environments; conda faked only where it is absent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from symphony.node.sources.envs import find_conda, find_envs, find_venvs, in_env


def make_venv(envs_dir: Path, name: str) -> Path:
    path = envs_dir / name
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    return path


FAKE_CONDA = """#!/bin/sh
# A stand-in for conda, for machines without it: `env list --json` and `run`.
if [ "$1" = env ]; then
  printf '{"envs": ["%s", "%s/envs/conda-env1"], "root_prefix": "%s"}' "$ROOT" "$ROOT" "$ROOT"
  exit 0
fi
if [ "$1" = run ]; then shift 4; CONDA_DEFAULT_ENV=conda-env1 exec "$@"; fi
exit 2
"""


def fake_conda(tmp: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Conda is not installed on this machine: a shell script answers in its place
    (``conda env list --json`` and ``conda run``), first on PATH."""
    bin_dir = tmp / "fake-conda-bin"
    bin_dir.mkdir()
    script = bin_dir / "conda"
    script.write_text(FAKE_CONDA)
    script.chmod(0o755)
    monkeypatch.setenv("ROOT", str(tmp / "miniconda"))
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    return script


async def test_envs_venvs_under_envs_dir_found_and_entered(tmp_path: Path) -> None:
    venv = make_venv(tmp_path / "envs", "torch-env")
    (tmp_path / "envs" / "not-an-env").mkdir()
    found = find_venvs(str(tmp_path / "envs"))
    assert list(found) == ["torch-env"]
    command, env = in_env(found["torch-env"], ["python3", "-c", "x"], {"PATH": "/usr/bin"})
    assert command == ["python3", "-c", "x"]
    assert env["PATH"] == f"{venv}/bin:/usr/bin" and env["VIRTUAL_ENV"] == str(venv)
    # The venv's python is the one the job finds first.
    ran = subprocess.run(
        ["python3", "-c", "import sys; print(sys.prefix)"], env=env, capture_output=True, text=True
    )
    assert ran.stdout.strip() == str(venv)
    assert find_venvs(str(tmp_path / "nowhere")) == {} and find_venvs(None) == {}


@pytest.mark.skipif(shutil.which("conda") is not None, reason="conda is installed: see below")
async def test_envs_conda_listed_and_run_through_conda_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fake_conda(tmp_path, monkeypatch)  # faked: conda is absent on this machine
    found = await find_conda()
    assert sorted(found) == ["base", "conda-env1"]
    assert found["conda-env1"].path == f"{tmp_path}/miniconda/envs/conda-env1"
    command, _ = in_env(found["conda-env1"], ["python3", "main.py"], dict(os.environ))
    assert command[1:] == ["run", "--no-capture-output", "-n", "conda-env1", "python3", "main.py"]
    # A venv of the same name wins (it is the node's own, under envs_dir).
    make_venv(tmp_path / "envs", "conda-env1")
    assert (await find_envs(str(tmp_path / "envs")))["conda-env1"].kind == "venv"


@pytest.mark.skipif(shutil.which("conda") is None, reason="conda is not installed here")
async def test_envs_real_conda_lists_base() -> None:
    listed = json.loads(subprocess.run(["conda", "env", "list", "--json"], capture_output=True,
                                       check=True).stdout)  # fmt: skip
    assert len(await find_conda()) == len(listed["envs"])


async def test_envs_no_conda_means_none(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    assert await find_conda() == {}
