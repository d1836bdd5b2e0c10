"""``symphony up`` stops when cancelled at any moment, start-up included.

A shielded start-up that waits for a stop request set only after start-up would hang
for ever; these tests run the service in child processes (a hang cannot take the test
run down with it) and cancel it at several points of its start-up.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from .test_up_e2e import BIN, clean_env, wait_for

# Runs run_up several times in one process (imports paid once): first to measure how
# long start-up takes, then cancelled at fractions of that, reporting each outcome.
SCRIPT = """
import json, sys, trio
from pathlib import Path
import symphony.conductor, symphony.node, symphony.conductor.service  # imports up front
from symphony.node.process import monitor_alive
from symphony.up import UpConfig, run_up

async def once(state: Path, delay: float) -> dict:
    config = UpConfig(state_dir=state, http_port=0, node_id="n1", capacities={"cpu": 100})
    started = None
    t0 = trio.current_time()
    with trio.move_on_after(delay) as scope:
        async with trio.open_nursery() as nursery:
            await nursery.start(run_up, config)
            started = trio.current_time() - t0
            if delay == float("inf"):
                nursery.cancel_scope.cancel()
    return {
        "delay": delay, "started": started, "cancelled": scope.cancelled_caught,
        "stop_took": trio.current_time() - t0 - min(delay, started or delay),
        "monitor_left": monitor_alive(state / "node" / "jobs"),
    }

async def main(base: Path) -> None:
    first = await once(base / "measure", float("inf"))
    print(json.dumps(first), flush=True)
    for i, fraction in enumerate((0.0, 0.1, 0.25, 0.5, 0.75, 0.9)):
        print(json.dumps(await once(base / f"s{i}", fraction * first["started"])), flush=True)

trio.run(main, Path(sys.argv[1]))
"""


def test_up_cancelled_at_any_point_of_start_up_stops(tmp_path: Path) -> None:
    script = tmp_path / "cancel_up.py"
    script.write_text(SCRIPT)
    result = subprocess.run(
        [sys.executable, str(script), str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,  # a hang shows as TimeoutExpired, never as a stuck test run
    )
    assert result.returncode == 0, result.stderr[-3000:]
    runs = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(runs) == 7
    assert runs[0]["started"] is not None
    for run in runs:
        # Stopped well within the job stop timeout (20 s), and left no node monitor.
        assert run["stop_took"] < 15, run
        assert not run["monitor_left"], run
    assert any(run["started"] is None for run in runs[1:])  # some were cut mid-start


def test_up_ctrl_c_during_start_up_exits(tmp_path: Path) -> None:
    with (tmp_path / "up.log").open("ab") as log:
        proc = subprocess.Popen(
            [str(BIN / "symphony"), "up", "--port", "0"],
            cwd=tmp_path,
            env=clean_env(),
            stdout=subprocess.PIPE,
            stderr=log,
        )
    try:
        # The state directory appears once start-up is under way; the banner has not
        # been printed yet (it comes once both halves serve).
        wait_for("start-up to begin", lambda: (tmp_path / ".symphony").exists(), timeout=30)
        proc.send_signal(signal.SIGINT)
        started = time.monotonic()
        assert proc.wait(timeout=30) == 0
        assert time.monotonic() - started < 25
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()
