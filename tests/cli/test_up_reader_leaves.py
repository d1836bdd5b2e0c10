"""``symphony up | head -1``: when the reader of its output goes away, ``up`` ends
quietly (no ``[Errno 32] Broken pipe``), and still stops its jobs, its node and its
Conductor as Ctrl-C does. Real ``symphony up``, real jobs, real pipes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import uuid
from pathlib import Path

from .test_up_e2e import BIN, LineReader, clean_env, cli, live, marked, wait_for


def sleeper(cwd: Path, marker: str) -> None:
    spec = {
        "name": "e2e",
        "node_group": "local",
        "config": {"command": ["sleep", "300"], "env": {"E2E_MARKER": marker}},
    }
    (cwd / "job.json").write_text(json.dumps(spec))
    cli(cwd, "deploy", "-f", "job.json")
    wait_for("running", lambda: (i := live(cwd)) and i["state"] == "running")
    assert marked(marker)


def up(cwd: Path, stdout: int) -> subprocess.Popen[bytes]:
    with (cwd / "up.log").open("ab") as log:
        return subprocess.Popen(
            [str(BIN / "symphony"), "up", "--port", "0"],
            cwd=cwd,
            env=clean_env(),
            stdout=stdout,
            stderr=log,
        )


def test_up_whose_reader_left_after_the_banner_stops_quietly(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    proc = up(tmp_path, subprocess.PIPE)
    try:
        LineReader(proc).until(lambda line: line.startswith("Press Ctrl-C"))
        sleeper(tmp_path, marker)
        proc.stdout.close()  # type: ignore[union-attr]  # `| head -1` has exited
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = (tmp_path / "up.log").read_text()
    assert "Broken pipe" not in log and "error" not in log, log
    wait_for("no process with the job's marker", lambda: not marked(marker))


def test_up_whose_reader_left_before_the_banner_stops_its_jobs_and_ends(tmp_path: Path) -> None:
    marker = uuid.uuid4().hex
    # A first run leaves a deployment that the next `up` here starts again.
    first = up(tmp_path, subprocess.PIPE)
    try:
        LineReader(first).until(lambda line: line.startswith("Press Ctrl-C"))
        sleeper(tmp_path, marker)
        first.send_signal(signal.SIGINT)
        assert first.wait(timeout=30) == 0
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
        first.stdout.close()  # type: ignore[union-attr]
    wait_for("the first run's job stopped", lambda: not marked(marker))
    (tmp_path / "up.log").write_text("")

    read, write = os.pipe()
    os.close(read)  # `symphony up | true`: the reader is gone before anything is written
    second = up(tmp_path, write)
    os.close(write)
    try:
        assert second.wait(timeout=30) == 0
    finally:
        if second.poll() is None:
            second.kill()
            second.wait()
    log = (tmp_path / "up.log").read_text()
    assert "Broken pipe" not in log and "error" not in log, log
    wait_for("no process with the job's marker", lambda: not marked(marker))
