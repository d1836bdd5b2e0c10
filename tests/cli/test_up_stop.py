"""Ctrl-C of ``symphony up`` stops its jobs as a stop from the Conductor does: each gets
its stop signal and its stop timeout before anything is killed, so a job can save its
work. Real ``symphony up``, real jobs, driven through the CLI."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from .test_up_e2e import cli, live, symphony_up, wait_for

JOB = """\
name: e2e
node_group: local
capacity_requests: {{cpu: 10}}
stop_signal: SIGINT
stop_timeout_seconds: 10
config:
  command: ["python3", "-u", "-c", "{script}"]
"""
# Saves its "work" on SIGINT, after a short pause, then exits: a SIGKILL would leave no file.
SCRIPT = (
    "import signal, sys, time\\n"
    "def save(*_):\\n"
    "    time.sleep(0.5)\\n"
    "    open('{saved}', 'w').write('saved')\\n"
    "    sys.exit(0)\\n"
    "signal.signal(signal.SIGINT, save)\\n"
    "print('ready', flush=True)\\n"
    "while True:\\n"
    "    time.sleep(0.1)"
)


def test_up_ctrl_c_gives_each_job_its_stop_signal_and_timeout(tmp_path: Path) -> None:
    saved = tmp_path / "saved"
    job = JOB.format(script=SCRIPT.format(saved=saved))
    (tmp_path / "job.yaml").write_text(job)
    with symphony_up(tmp_path) as (proc, _):
        cli(tmp_path, "deploy", "-f", "job.yaml")
        wait_for("running", lambda: (i := live(tmp_path)) and i["state"] == "running")
        wait_for("the job's first line", lambda: b"ready" in _stdout(tmp_path))
        began = time.monotonic()
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=30) == 0
    assert saved.read_text() == "saved", "the job was killed before it could save"
    assert time.monotonic() - began < 10  # it exited on its own, well before its timeout


def _stdout(root: Path) -> bytes:
    return b"".join(p.read_bytes() for p in root.glob(".symphony/node/**/stdout*.log"))
