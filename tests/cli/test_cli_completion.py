"""``symphony completion``: scripts generated from the parser that the shells accept."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent
# Completes the words given as arguments, the last one being the word under the cursor.
COMPLETE = """\
eval "$(symphony completion bash)"
COMP_WORDS=("$@"); COMP_CWORD=$(( ${#COMP_WORDS[@]} - 1 )); COMPREPLY=()
_symphony
printf '%s\\n' "${COMPREPLY[@]}"
"""


def script(shell: str) -> str:
    result = subprocess.run(
        [str(BIN / "symphony"), "completion", shell], capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def complete(tmp_path: Path, *words: str) -> list[str]:
    env = {"PATH": f"{BIN}:/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).parents[2])}
    result = subprocess.run(
        ["bash", "-c", COMPLETE, "complete", "symphony", *words],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_completion_bash_script_is_valid_bash(tmp_path: Path) -> None:
    path = tmp_path / "symphony.bash"
    path.write_text(script("bash"))
    result = subprocess.run(["bash", "-n", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_completion_bash_completes_commands_flags_and_choices(tmp_path: Path) -> None:
    (tmp_path / "job.yaml").write_text("{}")
    assert complete(tmp_path, "de") == ["deploy", "delete", "delete-batch"]
    assert complete(tmp_path, "token", "c") == ["create"]
    assert complete(tmp_path, "token", "create", "--t") == ["--ttl"]
    assert "--wide" in complete(tmp_path, "ps", "--")
    assert complete(tmp_path, "--mode", "") == ["conductor", "node"]
    assert complete(tmp_path, "--config", "c.yaml", "dep") == ["deploy"]  # its value skipped
    assert complete(tmp_path, "deploy", "-f", "jo") == ["job.yaml"]  # a file flag: file names
    assert complete(tmp_path, "up", "--port", "") == []  # a number: nothing to offer
    assert complete(tmp_path, "completion", "") == ["bash", "zsh", "fish"]


def test_completion_knows_every_command_of_the_parser() -> None:
    from symphony.cli import build_parser
    from symphony.cli.completion import command_tree

    tree = command_tree(build_parser())
    text = script("bash")
    for name in tree.subcommands:
        assert f" {name} " in text or f'"{name} ' in text or f' {name}"' in text, name


@pytest.mark.parametrize(("shell", "check"), [("zsh", ["zsh", "-n"]), ("fish", ["fish", "-n"])])
def test_completion_zsh_and_fish_scripts_parse(
    tmp_path: Path, shell: str, check: list[str]
) -> None:
    if shutil.which(check[0]) is None:
        pytest.skip(f"{check[0]} is not installed")
    path = tmp_path / f"symphony.{shell}"
    path.write_text(script(shell))
    result = subprocess.run([*check, str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_completion_zsh_offers_commands_choices_and_files(tmp_path: Path) -> None:
    if shutil.which("zsh") is None:
        pytest.skip("zsh is not installed")
    (tmp_path / "c.zsh").write_text(script("zsh"))
    # Outside a real completion widget: stand-ins for zsh's compdef, compadd and _files
    # print what would be offered (zsh itself filters the offers by the typed prefix).
    probe = (
        "compdef() { :; }; source ./c.zsh; compadd() { shift; print -l -- $@; }; "
        "_files() { print FILES; }; "
        "words=(symphony token c); CURRENT=3; _symphony; "
        "words=(symphony --mode ''); CURRENT=3; _symphony; "
        "words=(symphony deploy -f ''); CURRENT=4; _symphony"
    )
    result = subprocess.run(
        ["zsh", "-f", "-c", probe], cwd=tmp_path, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["create", "list", "revoke", "conductor", "node", "FILES"]
