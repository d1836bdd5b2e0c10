"""The process layer with real processes: restarts, spawn errors, stopping, env, status.

Timers of ours (backoff, stop grace) run on Trio's mock clock; it jumps ahead only
after 100 ms of real idleness, so real processes (which answer within milliseconds)
are never outrun by a jumping clock.
"""

from __future__ import annotations

import os
import sys

import pytest
import trio
import trio.testing

from symphony.node.process import InstanceExists, StartRequest, UnknownInstance
from tests.jobs.harness import (
    JOBS,
    Node,
    gone,
    monitor_request,
    open_node,
    spec,
    trapping,
    wait_real,
)


@pytest.fixture
def clock() -> trio.testing.MockClock:
    return trio.testing.MockClock(autojump_threshold=0.1)


@pytest.fixture
async def node(tmp_path, clock):
    async with open_node(str(tmp_path / "node")) as node:
        yield node


FAIL = ["sh", "-c", "exit 3"]
SLEEP = ["sleep", "1000"]


async def test_exec_env_cwd_and_own_session(clock: trio.testing.MockClock, node: Node) -> None:
    script = 'echo "$SYMPHONY_DEPLOYMENT $SYMPHONY_INSTANCE $SYMPHONY_NODE_ID $SYMPHONY_REPLICA"'
    script += '; echo "$LOG_LEVEL $HOME"; pwd; ps -o sid= -o pgid= -p $$'
    await node.start(
        "web-0",
        spec(["sh", "-c", script], env={"LOG_LEVEL": "info"}, restart_policy={"type": "never"}),
        deployment_id="dep-1",
        replica=0,
    )
    running = await node.wait_for("web-0", "running")
    exited = await node.wait_for("web-0", "exited")
    assert exited.exit_code == 0 and exited.signal is None and exited.runtime is not None
    lines = node.manager.tail("web-0", "stdout", 10)
    assert lines[0] == "dep-1 web-0 node-1 0"
    assert lines[1] == f"info {os.environ.get('HOME', '')}"
    assert lines[2] == os.path.join(node.state_dir, "work", "web-0")
    sid, pgid = map(int, lines[3].split())
    assert sid == pgid == running.pid  # its own session and process group
    assert exited.final  # one `exited` per exit: final when nothing follows
    assert node.states("web-0") == ["starting", "running", "exited"]
    assert exited.run_id == running.run_id and exited.pid is None


async def test_restart_on_failure_follows_the_backoff_sequence_then_fails(
    clock: trio.testing.MockClock, node: Node
) -> None:
    policy = {
        "type": "on-failure",
        "backoff_seconds": 1,
        "max_backoff_seconds": 4,
        "max_restarts": 4,
    }
    start = trio.current_time()
    await node.start("crash", spec(FAIL, restart_policy=policy))
    failed = await node.wait_for("crash", "failed")
    updates = node.of("crash")
    assert [u.delay for u in updates if u.state == "restarting"] == [1, 2, 4, 4]
    assert [u.exit_code for u in updates if u.state == "exited"] == [3] * 5
    assert "max_restarts=4" in (failed.reason or "") and failed.restarts == 4
    assert trio.current_time() - start >= 11  # the delays were really waited for
    (report,) = await node.manager.list_instances()
    assert (report.state, report.exit_code, report.restarts) == ("failed", 3, 4)


async def test_restart_on_failure_does_not_restart_a_clean_exit(
    clock: trio.testing.MockClock, node: Node
) -> None:
    await node.start("ok", spec(["true"]))
    exited = await node.wait_for("ok", "exited")  # the run's exit is the final state
    assert exited.final and exited.exit_code == 0
    assert node.states("ok") == ["starting", "running", "exited"]


async def test_restart_never_leaves_a_failed_run_exited(
    clock: trio.testing.MockClock, node: Node
) -> None:
    await node.start("once", spec(FAIL, restart_policy={"type": "never"}))
    final = await node.wait_for("once", "exited")
    assert final.final and final.exit_code == 3
    assert "restarting" not in node.states("once")
    (report,) = await node.manager.list_instances()
    assert (report.state, report.exit_code, final.restarts) == ("exited", 3, 0)


async def test_restart_always_restarts_clean_exits_and_signals(
    clock: trio.testing.MockClock, node: Node
) -> None:
    policy = {"type": "always", "backoff_seconds": 0, "max_restarts": 2}
    await node.start("loop", spec(["sh", "-c", "kill -KILL $$"], restart_policy=policy))
    await node.wait_for("loop", "failed")
    exits = [u for u in node.of("loop") if u.state == "exited"]
    assert [u.signal for u in exits] == ["SIGKILL"] * 3
    assert [u.delay for u in node.of("loop") if u.state == "restarting"] == [0, 0]


@pytest.mark.parametrize(
    ("command", "cwd", "reason"),
    [
        (["no-such-program-x"], None, "not found in PATH"),
        (["./not-executable.sh"], "{tmp}", "permission denied"),
        (["true"], "/no/such/dir", "working directory '/no/such/dir' does not exist"),
    ],
)
async def test_spawn_error_reports_a_clear_reason_and_counts_as_failure(
    clock: trio.testing.MockClock,
    node: Node,
    tmp_path,
    command: list[str],
    cwd: str | None,
    reason: str,
) -> None:
    (tmp_path / "not-executable.sh").write_text("#!/bin/sh\n")
    await node.start("bystander", spec(SLEEP))
    bystander = await node.wait_for("bystander", "running")
    fields = {"cwd": cwd.format(tmp=tmp_path)} if cwd else {}
    policy = {"backoff_seconds": 5, "max_restarts": 1}
    await node.start("broken", spec(command, restart_policy=policy, **fields))
    failed = await node.wait_for("broken", "failed")
    restarting = await node.wait_for("broken", "restarting")
    assert reason in (restarting.reason or "") and restarting.reason.startswith("spawn error")
    assert reason in (failed.reason or "")
    assert node.states("broken") == ["starting", "restarting", "starting", "failed"]
    assert reason in (node.manager.events("broken")[-1].reason or "")
    # The node and the other job are undisturbed.
    (report,) = [r for r in await node.manager.list_instances() if r.instance_id == "bystander"]
    assert (report.state, report.pid) == ("running", bystander.pid)


async def test_stop_kills_a_tree_that_ignores_sigterm_across_sessions(
    clock: trio.testing.MockClock, node: Node, tmp_path
) -> None:
    pids_file = str(tmp_path / "pids")
    job = spec([sys.executable, os.path.join(JOBS, "tree.py"), pids_file], stop_timeout_seconds=10)
    await node.start("tree", job)
    await node.wait_for("tree", "running")
    await wait_real(lambda: os.path.exists(pids_file))
    with open(pids_file) as f:
        leader, child, grandchild = map(int, f.read().split())
    assert os.getsid(grandchild) != os.getsid(leader)  # it escaped the job's session
    start = trio.current_time()
    report = await node.manager.stop_instance("tree")
    assert trio.current_time() - start >= 10  # the grace was given before SIGKILL
    assert report.state == "stopped"
    await wait_real(lambda: all(gone(pid) for pid in (leader, child, grandchild)))
    assert node.states("tree")[-2:] == ["stopping", "stopped"]
    with pytest.raises(UnknownInstance):
        await node.manager.stop_instance("tree")


async def test_stop_uses_the_stop_signal_and_reports_the_exit(
    clock: trio.testing.MockClock, node: Node, tmp_path
) -> None:
    ready = str(tmp_path / "trap-set")
    await node.start("trap", spec(trapping("trap 'exit 42' USR1", ready), stop_signal="SIGUSR1"))
    await node.wait_for("trap", "running")
    await wait_real(lambda: os.path.exists(ready))
    start = trio.current_time()
    report = await node.manager.stop_instance("trap")
    assert trio.current_time() - start < 10  # it exited on the signal, no SIGKILL needed
    assert (report.state, report.exit_code) == ("stopped", 42)


async def test_stop_during_backoff_cancels_the_restart(
    clock: trio.testing.MockClock, node: Node
) -> None:
    await node.start("crash", spec(FAIL, restart_policy={"backoff_seconds": 100}))
    await node.wait_for("crash", "restarting")
    report = await node.manager.stop_instance("crash")
    assert report.state == "stopped"
    assert node.states("crash") == ["starting", "running", "exited", "restarting", "stopped"]


async def test_status_reports_cpu_and_rss_of_the_tree(
    clock: trio.testing.MockClock, node: Node
) -> None:
    burn = "import time\nwhile True: sum(range(10000))"
    await node.start("burn", spec([sys.executable, "-c", burn]))
    await node.wait_for("burn", "running")
    await node.manager.list_instances()  # first sample primes cpu_percent
    await trio.to_thread.run_sync(__import__("time").sleep, 0.3)
    (report,) = await node.manager.list_instances()
    assert report.cpu_percent > 20 and report.rss_bytes > 1_000_000
    assert report.pid is not None and report.state == "running"


async def test_manager_rejects_malformed_requests(
    clock: trio.testing.MockClock, node: Node
) -> None:
    with pytest.raises(ValueError, match="instance id"):
        await node.start("../escape", spec(SLEEP))
    with pytest.raises(TypeError, match="StartRequest"):
        await node.manager.start_instance({"instance_id": "x"})  # type: ignore[arg-type]
    await node.start("dup", spec(SLEEP))
    with pytest.raises(InstanceExists):
        await node.manager.start_instance(StartRequest(instance_id="dup", spec=spec(SLEEP)))
    with pytest.raises(UnknownInstance):
        await node.manager.stop_instance("nobody")
    with pytest.raises(ValueError, match="stream"):
        node.manager.tail("dup", "stdin")
    assert [r.instance_id for r in await node.manager.list_instances()] == ["dup"]


async def test_monitor_protocol_rejects_malformed_requests(
    clock: trio.testing.MockClock, node: Node
) -> None:
    bad = [
        ({"op": "nope"}, "unknown op"),
        ({"op": "spawn", "run_id": "r", "instance_id": "../x"}, "instance id"),
        ({"op": "spawn", "run_id": "r", "instance_id": "i", "command": "ls"}, "command"),
        ({"op": "spawn", "run_id": "r", "instance_id": "i", "command": ["ls"]}, "env"),
        ({"op": "signal", "run_id": "r", "signal": -1}, "signal"),
        ({"op": "signal", "run_id": "missing", "signal": 0}, "no run"),
    ]
    for request, message in bad:
        reply = monitor_request(node.state_dir, request)
        assert not reply["ok"] and message in reply["error"], (request, reply)
    await node.start("still", spec(["true"], restart_policy={"type": "never"}))
    await node.wait_for("still", "exited")  # the monitor still works


async def test_stop_arriving_while_the_start_is_under_way_stops_it(
    clock: trio.testing.MockClock, node: Node
) -> None:
    async with trio.open_nursery() as nursery:
        nursery.start_soon(node.start, "hasty-0", spec(SLEEP))
        # Catch the moment the instance is known but its supervisor is not up yet.
        while node.manager._instances.get("hasty-0", (1, None))[0] is not None:
            await trio.sleep(0)
        await node.manager.stop_instance("hasty-0")
    # The start finished without crashing the manager and ended the job it began.
    assert "hasty-0" not in [r.instance_id for r in await node.manager.list_instances()]
    with pytest.raises(UnknownInstance):
        await node.manager.stop_instance("hasty-0")
    await wait_real(lambda: not _jobs_under(node.state_dir))


def _jobs_under(state_dir: str) -> list[int]:
    import psutil

    found = []
    work = os.path.join(state_dir, "work")
    for proc in psutil.process_iter(["pid", "cwd", "status"]):
        cwd = proc.info["cwd"] or ""
        if cwd.startswith(work) and proc.info["status"] != psutil.STATUS_ZOMBIE:
            found.append(proc.pid)
    return found


async def test_stop_sends_the_stop_signal_once_then_sigkill(
    clock: trio.testing.MockClock, node: Node, tmp_path
) -> None:
    # The worker keeps running after SIGTERM; its leader does not. Once the leader is
    # gone the worker is a leftover: it must not get a second SIGTERM, only SIGKILL.
    out = str(tmp_path / "terms")
    job = spec(["sh", os.path.join(JOBS, "trapper.sh"), out], stop_timeout_seconds=5)
    await node.start("trap-0", job)
    await node.wait_for("trap-0", "running")
    await wait_real(lambda: os.path.exists(out + ".ready"))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(node.manager.stop_instance, "trap-0")
        nursery.start_soon(node.manager.stop_instance, "trap-0")  # a repeated stop
    assert node.states("trap-0")[-1] == "stopped"
    with open(out) as f:
        assert f.read().splitlines() == ["TERM"]


async def test_stop_signal_reaches_each_process_once(
    clock: trio.testing.MockClock, node: Node, tmp_path
) -> None:
    # A real-time stop signal is queued, not merged: a process signalled both through
    # its group and on its own would count two deliveries.
    out = str(tmp_path / "count")
    job = spec(
        [sys.executable, os.path.join(JOBS, "sigcount.py"), out],
        stop_signal="SIGRTMIN",
        stop_timeout_seconds=5,
    )
    await node.start("count-0", job)
    await node.wait_for("count-0", "running")
    await wait_real(lambda: os.path.exists(out + ".ready"))
    await node.manager.stop_instance("count-0")  # the job ignores it: SIGKILL after 5 s
    with open(out) as f:
        assert f.read() == "1"
