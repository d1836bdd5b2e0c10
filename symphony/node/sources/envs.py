"""The named environments of a node: virtual environments and conda environments.

A virtual environment is a directory under ``node.envs_dir`` with a ``pyvenv.cfg``
(what ``python3 -m venv DIR`` makes); its name is the directory's. Conda environments
come from ``conda env list --json`` when conda is on the node's PATH (their name is
their directory's, ``base`` for the root one). A job with ``config.env_name`` runs its
command inside: a venv's ``bin`` goes first on PATH (and ``VIRTUAL_ENV`` is set); a conda
environment runs the command through ``conda run --no-capture-output -n NAME``.
"""

from __future__ import annotations

import json
import os
import shutil
from dataclasses import dataclass
from typing import Literal

import trio

#: How long ``conda env list`` may take.
CONDA_TIMEOUT = 30.0


@dataclass(frozen=True, slots=True)
class NamedEnv:
    name: str
    kind: Literal["venv", "conda"]
    path: str


def find_venvs(envs_dir: str | None) -> dict[str, NamedEnv]:
    """The virtual environments directly under ``envs_dir``."""
    found: dict[str, NamedEnv] = {}
    if not envs_dir or not os.path.isdir(envs_dir):
        return found
    for name in sorted(os.listdir(envs_dir)):
        path = os.path.join(envs_dir, name)
        if os.path.isfile(os.path.join(path, "pyvenv.cfg")):
            found[name] = NamedEnv(name, "venv", os.path.abspath(path))
    return found


async def find_conda(conda: str | None = None) -> dict[str, NamedEnv]:
    """Conda's environments (none when conda is not installed or does not answer)."""
    conda = conda or shutil.which("conda")
    if conda is None:
        return {}
    try:
        with trio.fail_after(CONDA_TIMEOUT):
            done = await trio.run_process(
                [conda, "env", "list", "--json"], capture_stdout=True,
                capture_stderr=True, check=False, stdin=b"",
            )  # fmt: skip
        listed = json.loads(done.stdout) if done.returncode == 0 else {}
    except (OSError, ValueError, trio.TooSlowError):
        return {}
    paths = listed.get("envs", []) if isinstance(listed, dict) else []
    root = listed.get("root_prefix") if isinstance(listed, dict) else None
    found: dict[str, NamedEnv] = {}
    for path in paths:
        if not isinstance(path, str):
            continue
        name = "base" if path == root else os.path.basename(path.rstrip("/"))
        found.setdefault(name, NamedEnv(name, "conda", path))
    return found


async def find_envs(envs_dir: str | None) -> dict[str, NamedEnv]:
    """Every named environment of the node (a venv wins over a conda env of its name)."""
    return {**await find_conda(), **find_venvs(envs_dir)}


def in_env(
    env: NamedEnv, command: list[str], job_env: dict[str, str]
) -> tuple[list[str], dict[str, str]]:
    """``command`` and its environment, changed to run inside ``env``."""
    if env.kind == "conda":
        conda = shutil.which("conda", path=job_env.get("PATH")) or "conda"
        return [conda, "run", "--no-capture-output", "-n", env.name, *command], job_env
    bin_dir = os.path.join(env.path, "bin")
    path = job_env.get("PATH") or os.defpath
    return command, {**job_env, "PATH": f"{bin_dir}:{path}", "VIRTUAL_ENV": env.path}
