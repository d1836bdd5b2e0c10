"""The monitor applies the restart rule itself: no agent is needed for a restart.

A node monitor runs here alone, without any agent connected: a run that ends on its
own is restarted by the monitor (policy, backoff 0, budget), each run with its own run
id; a run the agent signalled (a stop, a health check's kill) is left to the agent;
a restart that cannot be spawned says why.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from symphony.node.process.restartrule import Restarts
from tests.jobs.harness import monitor_request, wait_real

POLICY = {
    "type": "on-failure",
    "backoff_seconds": 0,
    "max_backoff_seconds": 0,
    "reset_after_seconds": 600,
    "restart_window_seconds": 600,
    "max_restarts": 2,
}


@contextlib.contextmanager
def _monitor(state_dir: str, *, code: str | None = None) -> Iterator[None]:
    """A node monitor for ``state_dir`` (``code``: Python code to start it with instead)."""
    start = ["-c", code] if code else ["-m", "symphony.node.process.monitor_server"]
    monitor = subprocess.Popen(
        [sys.executable, *start, "--state-dir", state_dir], stdout=subprocess.PIPE
    )
    try:
        assert monitor.stdout is not None and monitor.stdout.readline() == b"ready\n"
        yield
    finally:
        with contextlib.suppress(Exception):
            monitor_request(state_dir, {"op": "shutdown", "kill": True})
        if monitor.wait(10) is None:
            monitor.kill()
        assert monitor.stdout is not None
        monitor.stdout.close()


def _spawn(
    state_dir: str, cwd: str, script: str, *, name: str = "job", rule: bool = True, **restart: Any
) -> dict:
    """Spawn ``script`` as run ``<name>.first``, with a restart rule unless ``rule`` is False."""
    request = {
        "op": "spawn",
        "run_id": f"{name}.first",
        "instance_id": name,
        "command": ["sh", "-c", script],
        "env": {"PATH": os.defpath, "SYMPHONY_RUN_ID": f"{name}.first"},
        "cwd": cwd,
    }
    if rule:
        request["restart"] = {"policy": POLICY, "jitter": 0.1, "state": None, **restart}
    reply = monitor_request(state_dir, request)
    assert reply["ok"], reply
    return reply["run"]


def _runs(state_dir: str) -> list[dict]:
    runs = monitor_request(state_dir, {"op": "hello"})["runs"]
    return sorted(runs, key=lambda r: r["started_at"])


async def test_monitor_restarts_a_failing_run_itself_until_the_budget_is_spent(tmp_path) -> None:
    state_dir, work = str(tmp_path / "node"), tmp_path / "work"
    work.mkdir()
    with _monitor(state_dir):
        _spawn(state_dir, str(work), 'echo "$SYMPHONY_RUN_ID" >> runs.txt; exit 3')
        await wait_real(
            lambda: (
                len(_runs(state_dir)) == 3 and all(r["state"] == "ended" for r in _runs(state_dir))
            )
        )
        runs = _runs(state_dir)
        # Each run had its own id (the monitor finds a run's processes by it).
        assert (work / "runs.txt").read_text().split() == [r["run_id"] for r in runs]
        assert [r["exit_code"] for r in runs] == [3, 3, 3]
        first, second, third = (r["decision"] for r in runs)
        assert (
            first["restart"]
            and first["delay"] == 0
            and first["next"]["run_id"] == runs[1]["run_id"]
        )
        assert second["next"]["run_id"] == runs[2]["run_id"]
        assert [d["restarts"]["restarts"] for d in (first, second)] == [1, 2]
        assert runs[2]["meta"]["restarts"]["restarts"] == 2  # an adopting agent reads this
        assert (third["restart"], third["state"]) == (False, "failed")
        assert "max_restarts=2" in third["reason"]


async def test_monitor_leaves_a_signalled_run_to_the_agent(tmp_path) -> None:
    state_dir = str(tmp_path / "node")
    with _monitor(state_dir):
        run = _spawn(state_dir, str(tmp_path), "exec sleep 1000")
        reply = monitor_request(
            state_dir, {"op": "signal", "run_id": run["run_id"], "signal": signal.SIGTERM}
        )
        assert reply["ok"] and reply["members"] == 1
        await wait_real(lambda: _runs(state_dir)[0]["state"] == "ended")
        (ended,) = _runs(state_dir)  # a stop is a stop: nothing was started after it
        assert ended["signal"] == signal.SIGTERM and ended["decision"] is None


async def test_monitor_restart_that_cannot_be_spawned_says_why(tmp_path) -> None:
    state_dir, work = str(tmp_path / "node"), tmp_path / "gone"
    work.mkdir()
    with _monitor(state_dir):
        _spawn(state_dir, str(work), f"rmdir {work}; exit 1")  # the next run has no cwd
        await wait_real(lambda: _runs(state_dir)[0]["state"] == "ended")
        (ended,) = _runs(state_dir)
        decision = ended["decision"]
        assert decision["restart"] and "next" not in decision
        assert "does not exist" in decision["spawn_error"]


def test_restart_rule_state_travels_between_clocks() -> None:
    rule = Restarts(POLICY | {"backoff_seconds": 1, "max_backoff_seconds": 60}, jitter=0)
    assert [rule.decide(failed=True, runtime=1, now=1000 + i).delay for i in range(2)] == [1, 2]
    other = Restarts(POLICY | {"backoff_seconds": 1, "max_backoff_seconds": 60}, jitter=0)
    other.load(rule.export(now=1010), now=5)  # another process, another clock
    assert (other.restarts, other.attempt) == (2, 2)
    third = other.decide(failed=True, runtime=1, now=6)
    assert (third.restart, third.state) == (False, "failed")  # both restarts in the window
    assert other.decide(failed=True, runtime=1, now=600).delay == 4  # they left it
    other.load({"restarts": -1, "attempt": "x", "recent_ages": None}, now=0)  # hostile
    assert other.restarts == 3


def test_restart_rule_state_holds_only_what_the_budget_reads() -> None:
    # The state travels with every spawn and every restart the monitor decides: it must
    # not grow with the restarts so far, only with what the budget looks at.
    unlimited = Restarts(POLICY | {"max_restarts": None}, jitter=0)
    limited = Restarts(POLICY | {"max_restarts": 3, "restart_window_seconds": 100}, jitter=0)
    for i in range(50):
        unlimited.decide(failed=True, runtime=0, now=i * 0.01)
    assert unlimited.export(now=1)["recent_ages"] == []
    assert unlimited.restarts == 50
    for i in range(3):
        assert limited.decide(failed=True, runtime=0, now=i).restart
    assert not limited.decide(failed=True, runtime=0, now=3).restart  # spent: 3 in 100 s
    assert len(limited.export(now=3)["recent_ages"]) == 3
    assert limited.decide(failed=True, runtime=0, now=100.5).restart  # the first left it
    assert len(limited.export(now=100.5)["recent_ages"]) == 3
    assert not limited.decide(failed=True, runtime=0, now=100.8).restart  # 1, 2 and 100.5


async def test_a_stop_holds_an_instance_the_monitor_restarted_since(tmp_path) -> None:
    # An agent's stop names the run it knows of; with no backoff the monitor may have
    # restarted that run's job many times since. The stop (its signal marked ``stop``)
    # restarts the instance no more: whichever run lives ends, and nothing follows.
    state_dir = str(tmp_path / "node")
    always = {**POLICY, "type": "always", "max_restarts": None}
    with _monitor(state_dir):
        first = _spawn(state_dir, str(tmp_path), "exit 1", policy=always)
        await wait_real(lambda: len(_runs(state_dir)) >= 20)
        request = {"op": "signal", "run_id": first["run_id"], "signal": signal.SIGTERM}
        reply = monitor_request(state_dir, {**request, "stop": True})
        assert reply["ok"] and reply["members"] == 0  # long ended
        await wait_real(lambda: all(r["state"] == "ended" for r in _runs(state_dir)))
        runs = _runs(state_dir)
        assert runs[-1]["decision"] is None  # left to the agent, which is stopping
        assert all(r["decision"]["next"] for r in runs[:-1])
