"""A client command whose output's reader goes away (``symphony restart web | head -1``)
finishes its work quietly: a write to the closed pipe failed the command in the middle,
and ``restart`` then left the deployment stopped."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from .test_up_e2e import BIN, clean_env, cli, symphony_up, wait_for


@pytest.fixture(scope="module")
def project(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    cwd = tmp_path_factory.mktemp("reader")
    with symphony_up(cwd):
        yield cwd


def unread(cwd: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[bytes]:
    """``symphony ARGS`` whose standard output nobody reads: the pipe is closed at once."""
    process = subprocess.Popen(
        [str(BIN / "symphony"), *args],
        cwd=cwd,
        env=clean_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert process.stdout is not None
    process.stdout.close()
    try:
        _, err = process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:  # it did not end: the test fails, and leaves nothing
            process.kill()
            process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, b"", err)


def running(cwd: Path, name: str) -> bool:
    rows = json.loads(cli(cwd, "ps", "--json").stdout)
    found = [d for d in rows if d["name"] == name]
    return bool(found) and any(i["state"] == "running" for i in found[0]["instances"])


def test_restart_finishes_when_its_reader_left(project: Path) -> None:
    cli(project, "deploy", "--name", "web", "--wait", "--", "sleep", "600")
    done = unread(project, "restart", "web")
    assert done.returncode == 0, done.stderr
    assert done.stderr == b""
    wait_for("web running again", lambda: running(project, "web"), timeout=30)
    for args in (("history", "web"), ("version",), ("secret", "ls"), ("token", "list")):
        quiet = unread(project, *args)
        assert (quiet.returncode, quiet.stderr) == (0, b""), args
    cli(project, "rm", "web")


def test_logs_follow_of_a_quiet_job_ends_when_its_reader_left(project: Path) -> None:
    """``symphony logs -f quiet | head -0``: the job writes nothing, so no write ever fails;
    the command notices the closed pipe itself and ends, as ``tail -f | head -0`` does."""
    cli(project, "deploy", "--name", "quiet", "--wait", "--", "sleep", "600")
    done = unread(project, "logs", "-f", "quiet", timeout=20)
    assert (done.returncode, done.stderr) == (0, b"")
    cli(project, "rm", "quiet")
