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
IN_A_RUN = dep("starting", 1, inst(0, "starting"), spec={"schedule": {"cron": "* * * * *"}})
# Restarted after a failed run (restarts 1, last exit 3), and an instance that failed for
# good while its deployment goes on (rescheduled).
CRASHED = dep("running", 1, inst(0, "running", restarts=1, exit_code=3))
CRASHING = dep("running", 1, inst(0, "restarting", restarts=1, exit_code=3))
RESTARTED_CLEAN = dep("running", 1, inst(0, "running", restarts=1, exit_code=0))
REPLACED = dep(
    "running", 1, inst(0, "failed", exit_code=3), inst(0, "running", id="w-0b", restarts=0)
)

# A roll (an update, a rolling restart) between two steps: every replica runs, but old
# ones are still to be replaced; then one that failed.
ROLLING = dep(
    "running",
    2,
    inst(0, "running"),
    inst(1, "running", id="w-1b"),
    rollout={"state": "promoted", "reason": None, "new": 1, "old": 1, "new_healthy": 1},
)
REVERTING = dep(
    "running",
    1,
    inst(0, "running"),
    rollout={"state": "reverting", "reason": "version 3 failed: too slow", "new": 0, "old": 1},
)
PAUSED = dep(
    "running", 1, inst(0, "running"), rollout={"state": "paused", "reason": "version 3 failed"}
)
AWAIT = "canaries await `symphony promote`"
# Canaries healthy, waiting for a human's promote: as far as a wait can go.
CANARY = dep(
    "running",
    2,
    inst(0, "running"),
    inst(1, "running"),
    inst(0, "running", id="w-0b"),
    rollout={"state": "canary", "reason": "1 canary instance(s) healthy", "new": 1, "old": 2},
)

# Version 2 adds a health check and rolls: the old instances (version 1, none) are not
# "not healthy"; the new one is until its check passes, and an old one its own check
# found unhealthy is.
CHECK = {"health_check": {"type": "exec", "command": ["test", "-f", "ready"]}}
ADDS_A_CHECK = dep(
    "running",
    2,
    inst(0, "running", version=1),
    inst(1, "running", version=1),
    inst(0, "running", id="w-0b", version=2),
    version=2,
    spec=CHECK,
    rollout={"state": "rolling", "reason": None, "new": 1, "old": 2},
)
OLD_UNHEALTHY = dep(
    "running",
    1,
    inst(0, "running", version=1, health="unhealthy"),
    inst(0, "running", id="w-0b", version=2, health="healthy"),
    version=2,
    spec=CHECK,
    rollout={"state": "rolling", "reason": None, "new": 1, "old": 1},
)


@pytest.mark.parametrize(
    ("deployment", "since", "outcome", "text"),
    [
        (RUNNING2, 0, "up", "2/2 running"),
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
        (CRASHED, 0, "failed", "failed: w-0 exited with code 3 (the node restarts it)"),
        (CRASHING, 0, "failed", "failed: w-0 exited with code 3 (the node restarts it)"),
        (RESTARTED_CLEAN, 0, "up", "1/1 running"),
        (REPLACED, 0, "failed", "failed: w-0 exited with code 3"),
        (REPLACED, 20.0, "up", "1/1 running"),
        # Between runs a scheduled deployment has settled: it runs nothing till its time.
        (SCHEDULED, 0, "done", "scheduled: waiting for its first scheduled run (30 2 * * *, UTC)"),
        (IN_A_RUN, 0, None, "0/1 running, 1 starting"),
        (ROLLING, 0, None, "2/2 running (rolling: 1 new, 1 old)"),
        (REVERTING, 0, "failed", "failed: version 3 failed: too slow"),
        (PAUSED, 0, "failed", "failed: version 3 failed"),
        (CANARY, 0, "done", "3/2 running (canary: 1 new, 2 old): " + AWAIT),
        (ADDS_A_CHECK, 0, None, "3/2 running (1 not healthy yet) (rolling: 1 new, 2 old)"),
        (OLD_UNHEALTHY, 0, None, "2/1 running (1 not healthy yet) (rolling: 1 new, 1 old)"),
    ],
)
def test_progress_reads_one_look_at_a_deployment(
    deployment: dict[str, Any] | None, since: float, outcome: str | None, text: str
) -> None:
    assert progress(deployment, since, {})[::3] == (text, outcome)


def test_progress_judges_restarts_past_those_the_change_saw() -> None:
    # Scaled up while w-0 had crashed once before: that run is not this change's outcome.
    assert progress(CRASHED, 0, {"w-0": 1})[3] == "up"
    assert progress(CRASHED, 0, {"w-0": 0})[3] == "failed"
    assert progress(CRASHED, 0, None)[3] == "up"  # no counts to judge by


class Clock:
    """``time`` for :func:`_wait.wait`: a sleep only moves the clock on."""

    def __init__(self) -> None:
        self.now = 1000.0

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def waited(monkeypatch: pytest.MonkeyPatch, looks: list[dict[str, Any]]) -> tuple[int, float, str]:
    """(exit status, seconds waited, last line) of a wait that sees ``looks`` in turn
    (the last one again and again)."""
    clock = Clock()
    monkeypatch.setattr(_wait, "time", clock)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    seen = iter(looks)
    status = _wait.wait(
        None, "w", timeout=60, restarts={}, look=lambda: next(seen, looks[-1]), live=False
    )
    return status, clock.now - 1000.0, out.getvalue().splitlines()[-1]


def test_wait_counts_replicas_once_the_same_runs_lasted(monkeypatch: pytest.MonkeyPatch) -> None:
    run = dep("running", 1, inst(0, "running", started_at=5.0))
    status, took, last = waited(monkeypatch, [run])
    assert (status, took, last) == (0, _wait.STEADY, "w: 1/1 running (1s)")
    # Each look a new run (a job under "always" that exits 0 at once): never settled.
    runs = [
        dep("running", 1, inst(0, "running", restarts=n, exit_code=0, started_at=5.0 + n))
        for n in range(1000)
    ]
    status, took, last = waited(monkeypatch, runs)
    assert status == _wait.TIMED_OUT and took == 60


def test_wait_fails_when_a_run_seen_running_then_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    first = dep("running", 1, inst(0, "running", started_at=5.0))
    status, took, last = waited(monkeypatch, [first, CRASHED])
    assert status == 1 and took == _wait.POLL
    assert last == "w: failed: w-0 exited with code 3 (the node restarts it) (0.5s)"


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


QUICK_FAILURES = {
    "never": {"type": "never"},
    "on-failure": {"type": "on-failure"},
    "on-failure-at-once": {"type": "on-failure", "backoff_seconds": 0},
    "always-at-once": {"type": "always", "backoff_seconds": 0},
}


@pytest.mark.parametrize("policy", sorted(QUICK_FAILURES))
def test_deploy_wait_never_counts_a_quick_failure_as_a_success(project: Path, policy: str) -> None:
    # A run that fails within milliseconds may still be "running" at a look (the node
    # restarts it at once, or its exit is not reported yet): each try is a new chance.
    for attempt in range(4):
        name = f"quick-{policy}-{attempt}"
        path = spec(
            project,
            name,
            restart_policy=QUICK_FAILURES[policy],
            config={"command": ["sh", "-c", "exit 3"]},
        )
        result = run(project, "deploy", "-f", path, "--wait", "--timeout", "30")
        run(project, "rm", name)
        assert result.returncode == 1, (result.stdout, result.stderr)
        assert "exited with code 3" in result.stdout.splitlines()[-1], result.stdout


def test_deploy_wait_counts_a_replica_with_a_health_check_once_healthy(project: Path) -> None:
    check = {"type": "exec", "command": ["true"], "initial_delay_seconds": 2, "period_seconds": 1}
    path = spec(project, "checked", health_check=check, config={"command": ["sleep", "600"]})
    result = run(project, "deploy", "-f", path, "--wait")
    assert result.returncode == 0, (result.stdout, result.stderr)
    assert "checked: 1/1 running (1 not healthy yet)" in result.stdout
    assert result.stdout.splitlines()[-1].startswith("checked: 1/1 running (")
    shown = json.loads(run(project, "ps", "--json").stdout)
    (instance,) = next(d for d in shown if d["name"] == "checked")["instances"]
    assert instance["health"] == "healthy"
    run(project, "rm", "checked")


def test_deploy_wait_exits_1_when_the_health_check_fails(project: Path) -> None:
    check = {"type": "exec", "command": ["false"], "period_seconds": 1, "failure_threshold": 1}
    path = spec(project, "sick", health_check=check, config={"command": ["sleep", "600"]})
    result = run(project, "deploy", "-f", path, "--wait", "--timeout", "30")
    run(project, "rm", "sick")
    assert result.returncode == 1, (result.stdout, result.stderr)
    last = result.stdout.splitlines()[-1]
    assert last.startswith("sick: failed: sick-0-") and "was killed by SIGTERM (unhealthy: " in last
