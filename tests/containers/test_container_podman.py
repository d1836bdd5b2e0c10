"""The real podman, where it can run a container (else skipped with its own reason).

Same path as the fake-runtime tests, with nothing standing in: the node finds
``podman`` on its PATH, and the job runs from a local image (see ``probe.py``).
"""

from __future__ import annotations

from pathlib import Path

import pytest
import trio

from tests.jobs.harness import open_node

from .probe import LOCAL_IMAGE, podman_cannot_run
from .test_container_jobs import container, log_text

pytestmark = pytest.mark.skipif(podman_cannot_run() is not None, reason=str(podman_cannot_run()))


async def test_container_real_podman_runs_stops_and_reports_exit_codes(tmp_path: Path) -> None:
    script = "echo in-container; pwd; echo kept > /workspace/file; exit 4"
    once = container(LOCAL_IMAGE, command=["sh", "-c", script], restart_policy={"type": "never"})
    sleeper = container(LOCAL_IMAGE, command=["sleep", "600"], stop_timeout_seconds=5)
    with trio.fail_after(120):
        async with open_node(str(tmp_path / "node"), node_id="n1") as node:
            assert "podman" in node.manager.container_runtimes
            await node.start("once-0-aa", once)
            exited = await node.wait_for("once-0-aa", "exited")
            assert exited.exit_code == 4
            assert log_text(node, "once-0-aa").splitlines() == ["in-container", "/workspace"]
            work = Path(node.state_dir, "work", "once-0-aa", "file")
            assert work.read_text() == "kept\n"
            await node.start("sleep-0-bb", sleeper)
            await node.wait_for("sleep-0-bb", "running")
            report = await node.manager.stop_instance("sleep-0-bb")
            assert report.state == "stopped"
