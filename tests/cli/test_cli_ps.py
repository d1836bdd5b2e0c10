"""``symphony ps`` against a real ``symphony up``: REASON by default, cut to a terminal."""

from __future__ import annotations

import json
import os
import pty
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .test_up_e2e import clean_env, cli, symphony_up, wait_for

BIN = Path(sys.executable).parent
BIG = """\
name: big
node_group: local
labels: {size: big}
capacity_requests: {gpu: 64}
config: {command: ["sleep", "60"]}
"""
CRASH = """\
name: crash
node_group: local
restart_policy: {type: always, backoff_seconds: 60}
config: {command: ["sh", "-c", "exit 3"]}
"""


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A ``symphony up`` running one pending and one crash-looping deployment."""
    cwd = tmp_path_factory.mktemp("ps")
    with symphony_up(cwd):
        for name, spec in (("big", BIG), ("crash", CRASH)):
            (cwd / f"{name}.yaml").write_text(spec)
            cli(cwd, "deploy", "-f", f"{name}.yaml")
        wait_for(
            "crash to wait for its restart", lambda: "restarting" in " ".join(row(cwd, "crash"))
        )
        yield cwd
        cli(cwd, "rm", "big", "crash")


def rows(text: str) -> dict[str, list[str]]:
    lines = text.splitlines()
    header = lines[0].split()
    return {line.split()[0]: line.split(None, len(header) - 1) for line in lines[1:]}


def row(cwd: Path, name: str) -> list[str]:
    return rows(cli(cwd, "ps").stdout).get(name, [])


def ps_on_terminal(cwd: Path, columns: int) -> list[str]:
    """``symphony ps`` with its standard output on a pseudo-terminal ``columns`` wide."""
    controller, terminal = pty.openpty()
    try:
        result = subprocess.run(
            [str(BIN / "symphony"), "ps"],
            cwd=cwd,
            env={**clean_env(), "COLUMNS": str(columns)},
            stdout=terminal,
            stderr=subprocess.PIPE,
            text=True,
            timeout=30,
        )
        assert result.returncode == 0, result.stderr
        os.close(terminal)
        terminal = -1
        output = b""
        while True:
            try:
                chunk = os.read(controller, 65536)
            except OSError:  # EIO: the terminal side is closed and everything was read
                break
            if not chunk:
                break
            output += chunk
    finally:
        os.close(controller)
        if terminal != -1:
            os.close(terminal)
    return output.decode().replace("\r\n", "\n").splitlines()


def test_ps_shows_why_by_default_and_whole_lines_into_a_pipe(project: Path) -> None:
    out = cli(project, "ps").stdout
    assert out.splitlines()[0].split()[-1] == "REASON"
    table = rows(out)
    assert table["big"][3] == "pending"
    assert table["big"][-1].startswith("no ready node in group local")  # not cut: a pipe
    assert "restarting" in table["crash"][-1] or table["crash"][3] == "restarting"
    wide = cli(project, "ps", "-w").stdout.splitlines()[0].split()
    assert wide[-3:] == ["PID", "GPUS", "REASON"]  # GPUS: whether or not one holds a GPU


def test_ps_cuts_lines_to_the_terminal_width(project: Path) -> None:
    lines = ps_on_terminal(project, 100)
    assert lines[0].split()[-1] == "REASON"
    assert all(len(line) <= 100 for line in lines), lines
    big = next(line for line in lines if line.startswith("big "))
    assert big.endswith("...")


def test_ps_json_prints_the_deployments_of_the_api_unchanged(project: Path) -> None:
    """What docs/cli.md promises: the ``deployments`` list of ``GET /deployments``."""
    from symphony.client import Client

    api = Client(state_dir=project / ".symphony")
    printed = json.loads(cli(project, "ps", "--json").stdout)
    assert isinstance(printed, list) and {d["name"] for d in printed} == {"big", "crash"}
    # Fields that change by themselves between two reads (a restart) are left out.
    moving = ("updated_at", "restarts", "state", "pending_reason", "instances")
    fetched = api.list_deployments()

    def steady(deployments: list[dict]) -> list[dict]:
        return [{k: v for k, v in d.items() if k not in moving} for d in deployments]

    assert steady(printed) == steady(fetched)
    assert [sorted(i) for d in printed for i in d["instances"]] == [
        sorted(i) for d in fetched for i in d["instances"]
    ]
    assert json.loads(cli(project, "ps", "--json", "-a").stdout)[0].keys() == printed[0].keys()


def test_ps_lists_only_what_its_filters_select(project: Path) -> None:
    assert set(rows(cli(project, "ps", "-l", "size=big").stdout)) == {"big"}
    assert set(rows(cli(project, "ps", "--label", "size").stdout)) == {"big"}
    assert set(rows(cli(project, "ps", "--state", "pending", "--group", "local").stdout)) == {"big"}
    assert rows(cli(project, "ps", "-l", "size=small").stdout) == {}
    bad = cli(project, "ps", "-l", "bad key", ok=False)
    assert bad.returncode == 2 and "label key 'bad key'" in bad.stderr
    unknown = cli(project, "ps", "--state", "asleep", ok=False)
    assert unknown.returncode != 0 and "state" in unknown.stderr


def test_ps_age_of_an_ended_instance_counts_from_its_end() -> None:
    """AGE is how long the state has lasted: for an instance that ended, since it ended,
    not since its record was last touched (stopping a scheduled deployment touched every
    ended run's record, and each then showed the same few seconds)."""
    from symphony.cli.ps import ps_rows

    def ended(n: int, finished: float) -> dict[str, Any]:
        return {"id": f"cu-0-{n}", "replica": 0, "node_id": "n1", "state": "exited",
                "exit_code": 0, "signal": None, "restarts": 0, "health": None,
                "started_at": finished - 1, "finished_at": finished, "updated_at": 995.0,
                "reason": None, "restart_at": None, "pid": None, "devices": []}  # fmt: skip

    listing = [{"name": "cu", "state": "stopped", "instances": [ended(1, 880.0), ended(2, 940.0)]}]
    table = ps_rows(listing, show_all=True, wide=False, now=1000.0)
    assert [row[6] for row in table] == ["2m", "1m"]


def test_ps_with_names_lists_only_those_and_fails_on_one_missing(project: Path) -> None:
    """``symphony ps NAME...`` as ``kubectl get pods NAME``: only those deployments; one
    that does not exist is named on stderr, exit 1, after the rows of those that do."""
    assert set(rows(cli(project, "ps", "big").stdout)) == {"big"}
    assert set(rows(cli(project, "ps", "crash", "big").stdout)) == {"big", "crash"}
    printed = json.loads(cli(project, "ps", "big", "--json").stdout)
    assert [d["name"] for d in printed] == ["big"]
    by_id = cli(project, "ps", printed[0]["id"]).stdout
    assert set(rows(by_id)) == {"big"}
    missing = cli(project, "ps", "big", "nosuch", ok=False)
    assert missing.returncode == 1
    assert set(rows(missing.stdout)) == {"big"}
    assert missing.stderr.strip() == "symphony: error: no deployment named nosuch"
    # Filtered out is not missing: nothing to show, and no error.
    assert rows(cli(project, "ps", "big", "--state", "running").stdout) == {}
