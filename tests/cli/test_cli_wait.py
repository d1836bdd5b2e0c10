"""``--wait``: progress until a deployment settles; exit 0 done, 1 failed, 3 timed out."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from symphony.cli import _wait
from symphony.cli._wait import Progress, progress

from .test_up_e2e import clean_env, symphony_up

BIN = Path(sys.executable).parent


def inst(replica: int, state: str, **fields: Any) -> dict[str, Any]:
    ended = state in ("exited", "failed", "stopped")
    base = {"id": f"w-{replica}", "replica": replica, "state": state, "updated_at": 10.0}
    return {**base, "finished_at": 10.0 if ended else None, **fields}


def dep(state: str, desired: int, *instances: dict[str, Any], **fields: Any) -> dict[str, Any]:
    return {
        "state": state,
        "desired_state": fields.pop("desired_state", "running"),
        "replicas": {"desired": desired},
        "instances": list(instances),
        **fields,
    }


RUNNING2 = dep("running", 2, inst(0, "running"), inst(1, "running"))
HALF = dep("starting", 2, inst(0, "running"), inst(1, "starting"))
SCALING_DOWN = dep("running", 1, inst(0, "running"), inst(1, "stopping"))
STOPPING = dep("stopping", 1, inst(0, "stopping"), desired_state="stopped")
STOPPED = dep("stopped", 1, inst(0, "stopped"), desired_state="stopped")
FAILED = dep("failed", 1, failure="restart budget spent")
EXITED_OK = dep("exited", 1, inst(0, "exited", exit_code=0))
EXITED_BAD = dep("exited", 1, inst(0, "exited", exit_code=2))
STOPPED_BEFORE = dep("exited", 1, inst(0, "exited", exit_code=143))
SCHEDULED = dep(
    "pending",
    2,
    spec={"schedule": {"cron": "30 2 * * *"}},
    pending_reason="waiting for its first scheduled run (30 2 * * *, UTC)",
)
CHECKED = {"health_check": {"type": "exec", "command": ["true"]}}
UNHEALTHY = dep(
    "running", 2, inst(0, "running", health="healthy"), inst(1, "running"), spec=CHECKED
)
HEALTHY = dep(
    "running",
    2,
    inst(0, "running", health="healthy"),
    inst(1, "running", health="healthy"),
    spec=CHECKED,
)
IN_A_RUN = dep("starting", 1, inst(0, "starting"), spec={"schedule": {"cron": "* * * * *"}})


@pytest.mark.parametrize(
    ("deployment", "since", "outcome", "text"),
    [
        (RUNNING2, 0, "done", "2/2 running"),
        (HALF, 0, None, "1/2 running, 1 starting"),
        (SCALING_DOWN, 0, None, "1/1 running, 1 stopping"),
        (STOPPING, 0, None, "1 left to stop"),
        (STOPPED, 0, "done", "stopped"),
        (FAILED, 0, "failed", "failed: restart budget spent"),
        (EXITED_OK, 0, "done", "1/1 exited with code 0"),
        (EXITED_BAD, 0, "failed", "failed: w-0 exited with code 2"),
        # Started again: the run that ended before the change is not its outcome.
        (STOPPED_BEFORE, 20.0, None, "0/1 running"),
        (None, 0, "done", "removed"),
        # Between runs a scheduled deployment has settled: it runs nothing till its time.
        (SCHEDULED, 0, "done", "scheduled: waiting for its first scheduled run (30 2 * * *, UTC)"),
        (IN_A_RUN, 0, None, "0/1 running, 1 starting"),
        # With a health check, running is not enough: each must pass it.
        (UNHEALTHY, 0, None, "2/2 running (1 healthy)"),
        (HEALTHY, 0, "done", "2/2 running (2 healthy)"),
    ],
)
def test_progress_reads_one_look_at_a_deployment(
    deployment: dict[str, Any] | None, since: float, outcome: str | None, text: str
) -> None:
    assert progress(deployment, since)[::3] == (text, outcome)


def test_progress_on_a_terminal_redraws_one_line_with_a_bar(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    shown = Progress("web", live=True)
    shown.show("1/2 running, 1 starting", 1, 2)
    shown.show("1/2 running, 1 starting", 1, 2)
    shown.finish("2/2 running")
    text = out.getvalue()
    assert text.count("\r") >= 3 and "\n" not in text.rstrip("\n").split("\r")[-1]
    assert "web  [##########----------]  1/2 running, 1 starting" in text
    assert text.endswith("\rweb: 2/2 running (0s)\n")


def test_progress_into_a_pipe_prints_a_line_per_change(monkeypatch: pytest.MonkeyPatch) -> None:
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    shown = Progress("web", live=False)
    for text in ("0/2 running", "0/2 running", "1/2 running"):
        shown.show(text, 0, 2)
    shown.finish("2/2 running")
    assert out.getvalue() == "web: 0/2 running\nweb: 1/2 running\nweb: 2/2 running (0s)\n"


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    cwd = tmp_path_factory.mktemp("wait")
    with symphony_up(cwd):
        yield cwd


def run(cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "symphony"), *args],
        cwd=cwd,
        env=clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def spec(cwd: Path, name: str, **fields: Any) -> str:
    body = {"name": name, "node_group": "local", **fields}
    (cwd / f"{name}.json").write_text(json.dumps(body))
    return f"{name}.json"


def test_deploy_scale_rm_wait_exit_0_when_done(project: Path) -> None:
    result = run(
        project, "deploy", "--name", "w", "--replicas", "3", "--wait", "--", "sleep", "600"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("w: 3/3 running (")
    result = run(project, "scale", "w", "1", "--wait")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("w: 1/1 running (")
    result = run(project, "rm", "w", "--wait")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[-1].startswith("w: removed (")
    assert "w" not in [d["name"] for d in json.loads(run(project, "ps", "--json").stdout)]


def test_deploy_wait_exits_1_when_it_fails(project: Path) -> None:
    name = spec(project, "bad", restart_policy={"type": "never"}, config={"command": ["false"]})
    result = run(project, "deploy", "-f", name, "--wait")
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "bad: failed: bad-0-" in result.stdout and "exited with code 1" in result.stdout
    run(project, "rm", "bad")


def test_deploy_wait_returns_at_once_for_a_scheduled_deployment(project: Path) -> None:
    """Its replicas start at its times only: waiting for them to run now would wait out
    the timeout and exit 3 for a deployment that is exactly as asked."""
    name = spec(
        project,
        "nightly",
        config={"command": ["true"]},
        restart_policy={"type": "never"},
        schedule={"cron": "30 2 * * *", "timezone": "Europe/Berlin"},
    )
    result = run(project, "deploy", "-f", name, "--wait", "--timeout", "20")
    assert result.returncode == 0, (result.stdout, result.stderr)
    last = result.stdout.splitlines()[-1]
    assert last.startswith("nightly: scheduled: waiting for its first scheduled run (30 2 * * *")
    run(project, "rm", "nightly")


def test_deploy_wait_waits_for_the_health_check(project: Path) -> None:
    """A service whose check never passes is not done because its process runs (nor is
    it failed: it restarts), as ``kubectl rollout status`` waits for readiness."""
    check = {"type": "exec", "command": ["test", "-f", "ready"], "period_seconds": 0.5}
    never = spec(project, "never", config={"command": ["sleep", "600"]}, health_check=check)
    result = run(project, "deploy", "-f", never, "--wait", "--timeout", "4")
    assert result.returncode == _wait.TIMED_OUT, (result.stdout, result.stderr)
    assert "(0 healthy)" in result.stdout
    run(project, "rm", "never")
    ready = spec(
        project,
        "ready",
        config={"command": ["sh", "-c", "touch ready; exec sleep 600"]},
        health_check=check,
    )
    result = run(project, "deploy", "-f", ready, "--wait", "--timeout", "30")
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert result.stdout.splitlines()[-1].startswith("ready: 1/1 running (1 healthy) (")
    run(project, "rm", "ready")


def test_deploy_wait_exits_3_when_the_timeout_passes(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = spec(project, "huge", capacity_requests={"gpu": 64}, config={"command": ["true"]})
    result = run(project, "deploy", "-f", name, "--wait", "--timeout", "1")
    assert result.returncode == _wait.TIMED_OUT == 3, (result.stdout, result.stderr)
    assert "huge: 0/1 running" in result.stdout and "pending: " in result.stdout
    # Said at once (no node here has gpu), then the wait ends at its timeout all the same.
    warning, error = result.stderr.splitlines()
    assert warning.startswith("symphony: warning: huge cannot be placed: ")
    assert error.startswith("symphony: error: timed out after 1s waiting for huge")
    run(project, "rm", "huge")
