"""``ProcessManager.stop_all``: what an earlier agent left is stopped, never (re)started.

The agent is a real process (``agent_demo``), SIGKILLed while one instance runs and
another waits out a long restart backoff. A later ``stop_all`` must stop the first with
its stop signal and must not start the second again (a plain adoption would: an
instance waiting to restart is started at once by the next agent).
"""

from __future__ import annotations

import sys

import trio

from symphony.node.process import ProcessManager
from symphony.node.stop import monitor_alive
from tests.test_process_adopt import start_agent

SLEEPER = {
    "kind": "exec",
    "config": {"command": [sys.executable, "-c", "import time; time.sleep(300)"]},
}


async def test_stop_all_stops_running_jobs_and_never_restarts_one_in_backoff(tmp_path) -> None:
    state_dir = str(tmp_path / "node")
    runs = tmp_path / "crashy-runs"
    crashy = {
        "kind": "exec",
        "config": {"command": ["sh", "-c", f"echo run >> {runs}; exit 3"]},
        "restart_policy": {"type": "on-failure", "backoff_seconds": 60},
    }
    agent = await start_agent(state_dir, {"sleeper": SLEEPER, "crashy": crashy})
    try:
        running = await agent.until(
            lambda x: x.get("state") == "running" and x["instance_id"] == "sleeper"
        )
        await agent.until(lambda x: x.get("state") == "restarting" and x["instance_id"] == "crashy")
    finally:
        agent.process.kill()
        await agent.process.wait()
    assert runs.read_text() == "run\n"

    manager = ProcessManager(state_dir=state_dir, node_id="n1")
    async with trio.open_nursery() as nursery:
        await nursery.start(manager.run)
        stopped = await manager.stop_all()
        await manager.shutdown_monitor(kill_jobs=False)
        nursery.cancel_scope.cancel()

    by_id = {s.report.instance_id: s for s in stopped}
    assert set(by_id) == {"crashy", "sleeper"}
    assert by_id["sleeper"].pid == running["pid"]
    assert by_id["sleeper"].report.state == "stopped"
    assert by_id["sleeper"].report.reason == "stopped: SIGTERM within the stop timeout"
    assert (by_id["crashy"].pid, by_id["crashy"].ended_before) == (None, None)
    assert by_id["crashy"].report.state == "stopped"
    # Its last run's end may not have been acknowledged when the agent died: then the
    # stop reports that exit, else that a stop was requested. Either way, no new run.
    assert by_id["crashy"].report.reason in (
        "stop requested",
        "stopped: exited with code 3 within the stop timeout",
    )
    assert runs.read_text() == "run\n"  # never started again
    with trio.fail_after(15):
        while monitor_alive(tmp_path / "node"):
            await trio.sleep(0.05)
    # The records are gone: the next agent adopts nothing.
    assert list((tmp_path / "node" / "instances").iterdir()) == []
