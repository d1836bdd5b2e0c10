"""``symphony logs -f`` ends with its instance; a job that never started says why in its
stderr log. Against a real ``symphony up``."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_up_e2e import clean_env, cli, symphony_up, wait_for

BIN = Path(sys.executable).parent
END = re.compile(r"^\[symphony\] exited with code (\d+) at \d{4}-\d\d-\d\d \d\d:\d\d:\d\d \S+$")


def job(name: str, script: str, cwd: Path) -> str:
    return (
        f"name: {name}\nnode_group: local\nrestart_policy: {{type: never}}\n"
        f"config: {{command: [sh, -c, {json.dumps(script)}], cwd: {json.dumps(str(cwd))}}}\n"
    )


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    cwd = tmp_path_factory.mktemp("logs")
    with symphony_up(cwd):
        yield cwd


def deploy(cwd: Path, name: str, script: str) -> Path:
    """Deploy ``script``, run in a directory of its own (returned)."""
    workdir = cwd / f"{name}-work"
    workdir.mkdir()
    (cwd / f"{name}.yaml").write_text(job(name, script, workdir))
    cli(cwd, "deploy", "-f", f"{name}.yaml")
    return workdir


def instance(cwd: Path, name: str) -> dict:
    deployments = json.loads(cli(cwd, "ps", "--json", "-a").stdout)
    return next(d for d in deployments if d["name"] == name)["instances"][0]


def test_logs_follow_of_a_finished_instance_prints_it_and_returns(project: Path) -> None:
    deploy(project, "done", "echo first; echo last")
    wait_for("done to exit", lambda: instance(project, "done")["finished_at"])
    result = subprocess.run(
        [str(BIN / "symphony"), "logs", "done", "-f"],
        cwd=project, env=clean_env(), capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == ["first", "last"]
    assert len(lines) == 3 and (match := END.match(lines[2])), lines
    assert match[1] == "0"


def test_logs_follow_of_a_running_instance_ends_when_it_exits(project: Path) -> None:
    workdir = deploy(project, "slow", "echo begin; while [ ! -e stop ]; do sleep 0.1; done; exit 7")
    wait_for("slow to run", lambda: instance(project, "slow")["state"] == "running")
    proc = subprocess.Popen(
        [str(BIN / "symphony"), "logs", "slow", "-f"],
        cwd=project, env=clean_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline() == "begin\n"
        time.sleep(0.5)  # not a wait for a condition: it proves the follow does not end early
        assert proc.poll() is None
        (workdir / "stop").touch()
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()  # reaps it and closes the pipes
    assert proc.returncode == 0, err
    assert (match := END.match(out.splitlines()[-1])), out
    assert match[1] == "7"


@pytest.mark.parametrize(
    ("name", "spec", "error"),
    [
        (
            "nobin",
            {"command": ["/no/such/program"]},
            "executable '/no/such/program' does not exist",
        ),
        ("nocwd", {"command": ["true"], "cwd": "/no/such/dir"}, "working directory"),
    ],
)
def test_logs_stderr_of_a_job_that_never_started_says_why(
    project: Path, name: str, spec: dict, error: str
) -> None:
    body = {
        "name": name,
        "node_group": "local",
        "restart_policy": {"type": "never"},
        "config": spec,
    }
    (project / f"{name}.json").write_text(json.dumps(body))
    cli(project, "deploy", "-f", f"{name}.json")
    wait_for(f"{name} to fail", lambda: instance(project, name)["finished_at"])
    assert error in (instance(project, name)["reason"] or "")
    text = cli(project, "logs", name, "--stderr").stdout
    assert "[symphony] spawn error: " in text and error in text, text
