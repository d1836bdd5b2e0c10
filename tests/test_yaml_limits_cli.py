"""Files nested past any bound, read by real ``symphony`` processes: refused in one line.

Each of these killed its process with a segmentation fault (libyaml's composer recursing
on the C stack) or ended in a RecursionError; a bad file is a runtime error, exit 1
(docs/cli.md), found before anything is sent or started.
"""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent  # console scripts are installed beside the interpreter
DEEP = "[" * 50_000
NO_CONDUCTOR = "http://127.0.0.1:9"  # nothing listens: nothing must be sent anyway


def symphony(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "symphony"), *args], input=stdin, capture_output=True, text=True, timeout=60
    )


def refused(result: subprocess.CompletedProcess[str], says: str) -> None:
    assert result.returncode != -signal.SIGSEGV, "the YAML composer crashed the process"
    assert result.returncode == 1, result.stderr
    assert result.stderr.count("\n") == 1 and says in result.stderr, result.stderr


@pytest.mark.parametrize(
    ("name", "text", "says"),
    [
        ("job.yaml", f"name: web\nconfig: {DEEP}\n", "job.yaml: invalid spec: line 2, column 40"),
        ("job.json", '{"name": "web", "config": ' + DEEP, "nested more than 32 levels deep"),
        # Valid JSON that Python's decoder takes, deeper than the API takes a body.
        (
            "deep.json",
            '{"name": "web", "config": ' + "[" * 40 + "]" * 40 + "}",
            "nested more than 32",
        ),
    ],
    ids=["yaml", "json", "json-decodable"],
)
def test_deploy_refuses_a_spec_file_nested_past_bounds(
    tmp_path: Path, name: str, text: str, says: str
) -> None:
    spec = tmp_path / name
    spec.write_text(text)
    refused(symphony("deploy", "-f", str(spec), "--conductor", NO_CONDUCTOR), says)


def test_deploy_refuses_a_spec_on_stdin_nested_past_bounds() -> None:
    result = symphony("deploy", "-f", "-", "--conductor", NO_CONDUCTOR, stdin=DEEP)
    refused(result, "<stdin>: invalid spec: line 1, column 33: nested more than 32 levels deep")


def test_service_refuses_a_config_file_nested_past_bounds(tmp_path: Path) -> None:
    config = tmp_path / "node.yaml"
    config.write_text(f"mode: node\nnode:\n  groups: {DEEP}\n")
    says = f"{config}: line 3, column 41: nested more than 32 levels deep"
    refused(symphony("--config", str(config)), says)
    refused(symphony("node", "--config", str(config), "--check-config"), says)


def test_launch_refuses_an_experiment_file_nested_past_bounds(tmp_path: Path) -> None:
    experiment = tmp_path / "rl.yaml"
    experiment.write_text(f"name: rl\nprocesses: {DEEP}\n")
    result = symphony("launch", str(experiment), "--dry-run", "--conductor", NO_CONDUCTOR)
    refused(result, f"error: {experiment}: line 2, column 43: nested more than 32 levels deep")
