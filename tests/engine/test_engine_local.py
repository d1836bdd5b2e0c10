"""Cluster.new('local'): an embedded Conductor and node when nothing runs here, and the
running one when something does; closing it stops the jobs with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import psutil
import pytest

from symphony.engine import Cluster, LocalCluster, SymphonyConfig

from ..cli.test_up_e2e import wait_for
from ..ports import port_range


def test_local_embeds_a_conductor_then_attaches_to_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    for name in ("SYMPHONY_URL", "SYMPHONY_TOKEN", "SYMPHONY_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    SymphonyConfig().reset()
    first = Cluster.new("local", capacities={"cpu": 400}, ports=port_range())
    assert isinstance(first, LocalCluster) and first.embedded is not None
    try:
        assert (tmp_path / ".symphony" / "conductor.json").exists()
        exp = first.new_experiment("hello")
        exp.new_process("server", cmds=["echo serving on $SYMPH_WEB_PORT", "sleep 60"]).binds("web")
        exp.new_process("client", command=["sleep", "60"]).connects("web")
        first.launch(exp)
        running = first.wait_running("hello", timeout=30)
        assert first.current_experiment() == "hello"  # kept in this project's .symphony
        assert "hello" in (tmp_path / ".symphony" / "current-experiment.json").read_text()
        pids = [p["pid"] for p in running["processes"]]
        [port] = [p["ports"]["web"] for p in running["processes"] if p["name"] == "server"]
        line = f"serving on {port}"
        wait_for("the server's line", lambda: line in first.client.logs("hello.server"))

        # A second cluster in this directory finds the first one running: no new Conductor.
        second = Cluster.new("local")
        assert isinstance(second, LocalCluster) and second.embedded is None
        assert second.list_experiments() == ["hello"]
        second.close()  # attached: closing it stops nothing
        assert first.list_experiments() == ["hello"]
    finally:
        first.close()
    assert not first.embedded.running
    gone = [pid for pid in pids if not psutil.pid_exists(pid)]
    assert gone == pids, "the embedded Conductor's jobs stop with it"


SCRIPT = """
import sys
from symphony.engine import Cluster

cluster = Cluster.new("local", ports=sys.argv[1])
exp = cluster.new_experiment("termed")
exp.new_process("job", command=["sleep", "300"])
cluster.launch(exp)
running = cluster.wait_running("termed", timeout=30)
print(running["processes"][0]["pid"], flush=True)
cluster.wait()
"""


def test_local_sigterm_to_the_script_stops_its_jobs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A script that embeds a Conductor, stopped by SIGTERM (a service manager, `kill`,
    a batch system's end of time) as Ctrl-C stops it: its jobs stop with it. Python's
    default SIGTERM ended the process at once, atexit hooks and all, and left the job and
    the node monitor running."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SYMPHONY_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "config")
    with subprocess.Popen(
        [sys.executable, "-c", SCRIPT, port_range()],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    ) as script:
        try:
            assert script.stdout is not None
            job = psutil.Process(int(script.stdout.readline()))
            script.send_signal(signal.SIGTERM)
            assert script.wait(timeout=60) == 128 + signal.SIGTERM
            job.wait(timeout=10)  # gone with the script
        finally:
            script.kill()
    left = [
        p
        for p in psutil.process_iter(["cmdline"])
        if str(tmp_path) in " ".join(p.info["cmdline"] or ())
    ]
    for process in left:  # so that a failure leaves nothing running
        process.kill()
    assert left == [], "the node monitor and its loggers stop with the node"
