"""Client commands without a reachable Conductor: exit 1 and one line that says what to do."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

BIN = Path(sys.executable).parent


@pytest.fixture
def dead_url() -> Iterator[str]:
    """A loopback port that refuses connections: bound (so nobody else gets it), not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


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


def assert_unreachable(result: subprocess.CompletedProcess[str], url: str) -> None:
    assert result.returncode == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"symphony: error: cannot reach the Conductor at {url} ")
    assert "symphony up" in lines[0]


@pytest.mark.parametrize(
    "argv",
    [
        ("ps",),
        ("nodes",),
        ("logs", "web"),
        ("logs", "web", "-f"),
        ("events", "web"),
        ("stop", "web"),
        ("scale", "web", "2"),
        ("rm", "web"),
        ("rm", "--regex", "w"),
        ("deploy", "--", "true"),
    ],
)
def test_cli_no_conductor_exits_1_with_one_line(
    tmp_path: Path, dead_url: str, argv: tuple[str, ...]
) -> None:
    command, *rest = argv  # the flag goes first: after `deploy --` all is the job's command
    assert_unreachable(run(tmp_path, command, "--conductor", dead_url, *rest), dead_url)


def test_cli_finds_the_conductor_through_the_environment(tmp_path: Path, dead_url: str) -> None:
    assert_unreachable(run(tmp_path, "ps", SYMPHONY_URL=dead_url), dead_url)


def test_cli_finds_the_conductor_through_the_state_dir(tmp_path: Path, dead_url: str) -> None:
    # What a Conductor that has since crashed leaves behind: its address file.
    state = tmp_path / ".symphony"
    state.mkdir()
    (state / "conductor.json").write_text(json.dumps({"url": dead_url, "pid": 1}))
    assert_unreachable(run(tmp_path, "ps"), dead_url)


def test_cli_conductor_flag_wins_over_environment(tmp_path: Path, dead_url: str) -> None:
    result = run(tmp_path, "ps", "--conductor", dead_url, SYMPHONY_URL="http://127.0.0.1:1")
    assert_unreachable(result, dead_url)


def test_cli_table_into_a_closed_pipe_is_no_error(tmp_path: Path) -> None:
    """``symphony ps | head -1``: the reader leaves early; we exit quietly, status 0."""
    code = (
        "import sys; from symphony.cli._table import emit\n"
        "for i in range(100000): emit(f'row {i}')\n"
    )
    reader = subprocess.Popen(["head", "-n", "1"], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    writer = subprocess.run(
        [sys.executable, "-c", code],
        stdout=reader.stdin,
        stderr=subprocess.PIPE,
        text=True,
        timeout=30,
    )
    reader.stdin.close()  # type: ignore[union-attr]
    assert reader.stdout.read() == b"row 0\n"  # type: ignore[union-attr]
    reader.wait(timeout=10)
    reader.stdout.close()  # type: ignore[union-attr]
    assert (writer.returncode, writer.stderr) == (0, "")
