"""``symphony stop/start/scale`` print where the instances are headed, not the moment before."""

from __future__ import annotations

import json
import os
import pty
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from symphony.cli.control import after_change

from .test_up_e2e import cli, symphony_up, wait_for


def dep(desired: int, state: str = "running", **live: int) -> dict[str, Any]:
    """A deployment whose live instances have the given states, replicas 0, 1, 2..."""
    states = [s for s, n in live.items() for _ in range(n)]
    instances = [{"replica": r, "state": s, "finished_at": None} for r, s in enumerate(states)]
    ended = {"replica": 0, "state": "stopped", "finished_at": 1.0}
    return {
        "desired_state": state,
        "replicas": {"desired": desired},
        "instances": [*instances, ended],
    }


@pytest.mark.parametrize(
    ("deployment", "expected"),
    [
        (dep(3, "stopped", running=3), "3 stopping"),
        (dep(3, "stopped"), "none running"),
        (dep(3, running=1), "1 running, 2 starting"),
        (dep(5, running=3), "3 running, 2 starting"),
        (dep(1, running=3), "1 running, 2 stopping"),
        (dep(2, pending=1, stopping=1), "1 starting, 1 pending, 1 stopping"),
    ],
)
def test_after_change_counts_where_instances_are_headed(
    deployment: dict[str, Any], expected: str
) -> None:
    assert after_change(deployment) == expected


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    cwd = tmp_path_factory.mktemp("control")
    with symphony_up(cwd):
        yield cwd


def states(cwd: Path) -> list[str]:
    deployments = json.loads(cli(cwd, "ps", "--json").stdout)
    three = next(d for d in deployments if d["name"] == "three")
    return sorted(i["state"] for i in three["instances"] if i["finished_at"] is None)


def test_stop_start_scale_print_the_state_after_the_change(project: Path) -> None:
    cli(project, "deploy", "--name", "three", "--replicas", "3", "--", "sleep", "600")
    wait_for("3 running", lambda: states(project) == ["running"] * 3)
    out = cli(project, "stop", "three").stdout
    assert out == "deployment three: desired stopped, replicas 3: 3 stopping\n"
    wait_for("all stopped", lambda: states(project) == [])
    out = cli(project, "start", "three").stdout
    prefix = "deployment three: desired running, replicas 3: "
    assert out.startswith(prefix), out
    # New instances are pending for a moment before they are placed: either is right.
    counts = [part.split() for part in out[len(prefix) :].strip().split(", ")]
    assert sum(int(n) for n, _ in counts) == 3
    assert {state for _, state in counts} <= {"starting", "pending", "assigned"}, out
    wait_for("3 running again", lambda: states(project) == ["running"] * 3)
    out = cli(project, "scale", "three", "1").stdout
    assert out == "deployment three: desired running, replicas 1: 1 running, 2 stopping\n"
    cli(project, "rm", "three")


def names(cwd: Path) -> set[str]:
    return {d["name"] for d in json.loads(cli(cwd, "ps", "--json").stdout)}


def on_a_terminal(cwd: Path, answer: str, *args: str) -> subprocess.CompletedProcess[str]:
    """``symphony ARGS`` with a terminal (a pty) on its standard input, ``answer`` typed."""
    typist, terminal = pty.openpty()
    try:
        os.write(typist, answer.encode())
        return cli(cwd, *args, ok=False, stdin=terminal)
    finally:
        os.close(typist)
        os.close(terminal)


def test_rm_regex_refuses_an_empty_pattern_and_asks_before_removing_several(
    project: Path,
) -> None:
    for name in ("t-one", "t-two", "keep", "keep-too", "solo"):
        cli(project, "deploy", "--name", name, "--", "sleep", "600")
    empty = cli(project, "rm", "--regex", "", ok=False)
    assert empty.returncode == 2, empty.stderr
    assert "an empty pattern matches every deployment" in empty.stderr
    assert {"t-one", "t-two", "keep"} <= names(project)

    # A script (no terminal): refused, naming the flag; nothing removed.
    script = cli(project, "rm", "--regex", "^t-", ok=False)
    assert script.returncode == 1, script.stderr
    assert "matches 2 deployments: t-one, t-two" in script.stderr
    assert "pass --yes" in script.stderr
    # A person who says no.
    declined = on_a_terminal(project, "n\n", "rm", "--regex", "^t-")
    assert declined.returncode == 1, declined.stderr
    assert "remove 2 deployments: t-one, t-two? [y/N]" in declined.stdout
    assert "nothing removed" in declined.stdout
    assert {"t-one", "t-two", "keep"} <= names(project)
    # A person who says yes; a script that said so in advance; one match needs no yes.
    agreed = on_a_terminal(project, "y\n", "rm", "--regex", "^t-")
    assert agreed.returncode == 0, agreed
    assert agreed.stdout.endswith("deployment t-one removed\ndeployment t-two removed\n")
    out = cli(project, "rm", "--regex", "^kee", "--yes").stdout
    assert out == "deployment keep removed\ndeployment keep-too removed\n"
    assert cli(project, "rm", "--regex", "^solo").stdout == "deployment solo removed\n"
    assert not {"t-one", "t-two", "keep", "keep-too", "solo"} & names(project)
