"""The node's command layer (ProcessJobs) with real processes: stops that overtake
starts, repeated stops, and nothing kept forever."""

from __future__ import annotations

import os
import time

import pytest
import trio

from symphony.node.tombstones import Tombstones
from symphony.wire import StopInstance
from tests.jobs.harness import (
    gone,
    monitor_request,
    open_jobs,
    open_node,
    processes_under,
    spec,
    start_command,
    start_running,
    trapping,
    wait_real,
)

SLEEP = ["sleep", "1000"]


async def test_jobs_stop_before_start_never_runs_the_start(tmp_path) -> None:
    async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
        await jobs.stop(StopInstance(instance_id="early-0"))
        await jobs.start(start_command("early-0", spec(SLEEP)))
        await wait_real(lambda: len(link.of("early-0")) >= 2)
        # Both the stop and the late start are answered "stopped"; the second one carries
        # the deployment, so the Conductor can record it.
        assert [s.state for s in link.of("early-0")] == ["stopped", "stopped"]
        assert sorted(s.deployment_id for s in link.of("early-0")) == ["dep-1", "unknown"]
        assert all(s.final for s in link.of("early-0"))
        assert await node.manager.list_instances() == []
        assert node.of("early-0") == []  # no starting, no running: nothing was spawned
        assert not jobs._stopping


async def test_jobs_100_starts_then_100_stops_leave_no_process_and_no_entry(tmp_path) -> None:
    count = 100
    async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
        for i in range(count):
            await jobs.start(start_command(f"burst-{i}", spec(SLEEP, stop_timeout_seconds=2)))
        for i in range(count):
            await jobs.stop(StopInstance(instance_id=f"burst-{i}"))
        for i in range(count):  # a repeated stop changes nothing
            await jobs.stop(StopInstance(instance_id=f"burst-{i}"))

        def all_stopped() -> bool:
            return all(
                any(s.state == "stopped" for s in link.of(f"burst-{i}")) for i in range(count)
            )

        await wait_real(all_stopped, timeout=60)
        await wait_real(lambda: not jobs._stopping, timeout=30)
        assert await node.manager.list_instances() == []
        await wait_real(lambda: not processes_under(os.path.join(node.state_dir, "work")))
        assert node.manager.feed.kept_instances() == []
        # The late starts of all of them are refused.
        await jobs.start(start_command("burst-7", spec(SLEEP)))
        assert await node.manager.list_instances() == []


def test_tombstones_expire_and_stay_bounded() -> None:
    stones = Tombstones(capacity=3, ttl=60.0)
    for i in range(5):
        stones.add(f"i-{i}", now=float(i))
    assert len(stones) == 3
    assert not stones.contains("i-0", now=5.0) and stones.contains("i-4", now=5.0)
    assert not stones.contains("i-4", now=64.0)
    assert len(stones) == 0
    with pytest.raises(ValueError, match="capacity"):
        Tombstones(capacity=0)
    _ = trio  # the module runs under trio mode


async def test_jobs_stopped_reports_how_the_run_ended(tmp_path) -> None:
    # SIGTERM within the stop timeout, SIGKILL after it, and a trap's own exit code.
    stubborn = trapping("trap '' TERM", str(tmp_path / "kill-0.set"))
    clean = trapping("trap 'exit 3' TERM", str(tmp_path / "code-0.set"))
    async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
        await jobs.start(start_command("term-0", spec(SLEEP)))
        await jobs.start(start_command("kill-0", spec(stubborn, stop_timeout_seconds=1)))
        await jobs.start(start_command("code-0", spec(clean)))
        for name in ("term-0", "kill-0", "code-0"):
            await wait_real(lambda n=name: any(s.state == "running" for s in link.of(n)))
            if name != "term-0":  # its trap set: stopped by the signal it is tested with
                await wait_real(lambda n=name: (tmp_path / f"{n}.set").exists())
            await jobs.stop(StopInstance(instance_id=name))

        def stopped(name: str):
            return next((s for s in link.of(name) if s.state == "stopped"), None)

        await wait_real(lambda: all(stopped(n) for n in ("term-0", "kill-0", "code-0")), 30)
        term, kill, code = stopped("term-0"), stopped("kill-0"), stopped("code-0")
        assert (term.signal, term.exit_code) == (15, None)
        assert "SIGTERM within the stop timeout" in term.reason
        assert (kill.signal, kill.exit_code) == (9, None)
        assert "SIGKILL after the 1 s stop timeout" in kill.reason
        assert (code.signal, code.exit_code) == (None, 3)
        assert all(s.final and s.finished_at is not None for s in (term, kill, code))


async def test_jobs_report_the_process_start_time_across_an_agent_restart(tmp_path) -> None:
    state_dir = str(tmp_path / "node")
    async with open_node(state_dir, keep_monitor=True) as node, open_jobs(node) as (jobs, link):
        before = time.time()
        await jobs.start(start_command("age-0", spec(SLEEP)))
        await wait_real(lambda: any(s.state == "running" for s in link.of("age-0")))
        running = next(s for s in link.of("age-0") if s.state == "running")
        assert running.started_at is not None and before <= running.started_at <= time.time()
    await trio.to_thread.run_sync(time.sleep, 0.05)  # the report below is clearly later
    async with open_node(state_dir) as node, open_jobs(node) as (jobs, link):
        await node.manager.adopt()
        (report,) = await jobs.reports()
        assert (report.state, report.pid) == ("running", running.pid)
        assert report.started_at == running.started_at  # not the time of the report
        adopted = next(s for s in link.of("age-0") if s.state == "running")
        assert adopted.started_at == running.started_at


async def test_jobs_exit_during_an_agent_outage_reaches_the_hello_with_its_code(
    tmp_path,
) -> None:
    # A `never` job exits while no agent runs. The next agent reports it exited, final,
    # with its code and end time, and does not run it again; nor does an agent after
    # that, even though the monitor's record of the exit was acknowledged meanwhile.
    state_dir = str(tmp_path / "node")
    go = tmp_path / "go"
    waiter = f"while [ ! -f {go} ]; do sleep 0.01; done; exit 7"
    job = spec(["sh", "-c", waiter], restart_policy={"type": "never"})
    async with open_node(state_dir, keep_monitor=True) as node, open_jobs(node) as (jobs, link):
        pid = await start_running(jobs, link, "once-0", job)
    go.touch()
    await wait_real(lambda: gone(pid))
    exited_by = time.time()
    for agent in range(2):
        keep = agent == 0
        async with open_node(state_dir, keep_monitor=keep) as node, open_jobs(node) as (jobs, _):
            await node.manager.adopt()
            (hello,) = await jobs.reports()
            assert (hello.state, hello.final, hello.exit_code) == ("exited", True, 7)
            assert hello.signal is None and hello.pid is None
            assert hello.finished_at is not None and hello.finished_at <= exited_by
            assert "starting" not in node.states("once-0")  # never run twice
            if keep:  # the agent goes once the monitor has forgotten the exit
                await wait_real(lambda: not _monitor_runs(state_dir))


def _monitor_runs(state_dir: str) -> list[dict]:
    return monitor_request(state_dir, {"op": "hello"})["runs"]


async def test_jobs_agent_restart_keeps_restarts_and_a_pending_restart(tmp_path) -> None:
    # "flaky" failed once and was restarted; "crashy" fails every time and was waiting
    # out a long backoff when the agent went. The next agent keeps the restart count
    # and the last exit of the one, and starts the other again instead of calling it
    # finished.
    state_dir = str(tmp_path / "node")
    flaky = spec(
        ["sh", "-c", "[ -f ran ] && exec sleep 1000; touch ran; exit 3"],
        restart_policy={"type": "on-failure", "backoff_seconds": 0.01},
    )
    crashy = spec(
        ["sh", "-c", "exit 4"],
        restart_policy={"type": "on-failure", "backoff_seconds": 1000, "max_backoff_seconds": 1000},
    )
    async with open_node(state_dir, keep_monitor=True) as node, open_jobs(node) as (jobs, link):
        await jobs.start(start_command("flaky-0", flaky))
        await jobs.start(start_command("crashy-0", crashy))
        await wait_real(lambda: [s.state for s in link.of("flaky-0")].count("running") == 2)
        await wait_real(lambda: "restarting" in [s.state for s in link.of("crashy-0")])
    async with open_node(state_dir) as node, open_jobs(node) as (jobs, link):
        await node.manager.adopt()
        await wait_real(lambda: "restarting" in node.states("crashy-0"), timeout=30)
        reports = {r.instance_id: r for r in await jobs.reports()}
        assert (reports["flaky-0"].state, reports["flaky-0"].restarts) == ("running", 1)
        assert reports["flaky-0"].exit_code == 3  # the last exit is still known
        crashed = reports["crashy-0"]
        assert (crashed.state, crashed.final, crashed.exit_code) == ("restarting", False, 4)
        assert crashed.restarts == 2  # one before the agent went, one after


async def test_jobs_a_restart_by_the_monitor_reaches_the_link_as_one_message(tmp_path) -> None:
    # The monitor restarts the job at once; the agent says so in four updates. Told to
    # the link one by one they left in two or three frames, each a trip through the
    # Conductor's actors and a transaction of its own, while the next kill may come.
    job = spec(SLEEP, restart_policy={"type": "always", "backoff_seconds": 0})
    async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
        await jobs.start(start_command("kill-0", job))
        await wait_real(lambda: any(s.state == "running" for s in link.of("kill-0")))
        for restarts in (1, 2, 3):
            (first,) = [s for s in link.of("kill-0") if s.state == "running"][-1:]
            assert first.pid is not None
            os.kill(first.pid, 9)
            await wait_real(
                lambda n=restarts: [s.state for s in link.of("kill-0")].count("running") == n + 1
            )
        restarts_told = [m for m in link.messages if m[0].state == "exited"]
        assert len(restarts_told) == 3
        for message in restarts_told:
            assert [s.state for s in message] == ["exited", "restarting", "starting", "running"]
            exited, running = message[0], message[-1]
            assert (exited.signal, exited.final, running.restarts) == (9, False, exited.restarts)
        await jobs.stop(StopInstance(instance_id="kill-0"))
        await wait_real(lambda: any(s.state == "stopped" for s in link.of("kill-0")))
