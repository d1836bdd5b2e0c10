"""The node monitor killed with SIGKILL: the agent starts a new one and re-adopts.

Real processes throughout: the jobs keep their pids (they are not restarted), a job
that ends after its monitor died is reported with an unknown exit status (run again
only by a policy that restarts failures, saying why), and stops, exits and new starts
work with the new monitor.
"""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time

import httpx
import pytest
import trio

from symphony.node.link import GetLinkStatus
from symphony.node.process.client import MonitorClient, MonitorLost, monitor_command
from symphony.node.process.monitorfiles import LOCK_NAME
from symphony.node.process.proctree import RUN_ID_ENV, STATE_DIR_ENV
from symphony.wire import StopInstance
from tests.jobs.harness import (
    ended,
    monitor_pid,
    monitor_request,
    open_jobs,
    open_node,
    readopted,
    spec,
    start_command,
    start_running,
    trapping,
    wait_real,
)
from tests.link.cluster import shared_cert_node, start_conductor, start_node, wait_for


async def test_monitor_sigkill_is_replaced_and_the_jobs_are_readopted(tmp_path) -> None:
    state_dir = str(tmp_path / "node")
    go = tmp_path / "go"
    waiter = f"while [ ! -f {go} ]; do sleep 0.01; done; exit 7"
    jobs_specs = {
        "a-0": spec(["sleep", "1000"]),
        "b-0": spec(["sleep", "1000"], restart_policy={"type": "always"}),
        "c-0": spec(["sh", "-c", waiter], restart_policy={"type": "never"}),
    }
    with trio.fail_after(60):
        async with open_node(state_dir) as node, open_jobs(node) as (jobs, link):

            def state_of(name: str) -> list[str]:
                return [s.state for s in link.of(name)]

            for name, job in jobs_specs.items():
                await jobs.start(start_command(name, job))
            await wait_real(lambda: all("running" in state_of(n) for n in jobs_specs))
            pids = {n: next(s.pid for s in link.of(n) if s.state == "running") for n in jobs_specs}
            old_monitor = monitor_pid(state_dir)
            assert old_monitor is not None

            os.kill(old_monitor, signal.SIGKILL)
            await wait_real(lambda: ended(old_monitor))
            await wait_real(lambda: node.manager.monitors_replaced == 1, timeout=30)
            new_monitor = monitor_pid(state_dir)
            assert new_monitor not in (None, old_monitor)

            # The same processes, adopted, not restarted.
            reports = {r.instance_id: r for r in await jobs.reports()}
            for name in jobs_specs:
                assert (reports[name].state, reports[name].pid) == ("running", pids[name])
                assert state_of(name).count("starting") == 1
                assert not ended(pids[name])

            # c ends while its parent monitor is gone: its status cannot be known.
            go.touch()
            await wait_real(lambda: any(s.final for s in link.of("c-0")), timeout=30)
            exited = link.of("c-0")[-1]
            assert (exited.state, exited.exit_code, exited.signal) == ("exited", None, None)
            assert exited.reason.startswith("exit status unknown")
            assert state_of("c-0").count("starting") == 1  # never run twice

            # A stop works on an adopted run of the old monitor.
            await jobs.stop(StopInstance(instance_id="a-0"))
            await wait_real(lambda: "stopped" in state_of("a-0"), timeout=30)
            assert ended(pids["a-0"])

            # A new start runs under the new monitor, with its real exit code.
            once = spec(["sh", "-c", "exit 5"], restart_policy={"type": "never"})
            await jobs.start(start_command("d-0", once))
            await wait_real(lambda: "exited" in state_of("d-0"), timeout=30)
            assert [s for s in link.of("d-0") if s.state == "exited"][-1].exit_code == 5
            assert not ended(pids["b-0"])


async def test_monitor_sigkill_under_a_connected_agent_keeps_the_instance_running(
    tmp_path,
) -> None:
    spec_ = {
        "name": "steady",
        "node_group": "gpu-1",
        "capacity_requests": {"Analytic1": 1},
        "config": {"command": ["sleep", "1000"]},
    }
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        node = await start_node(nursery, shared_cert_node(info, "n1", tmp_path / "n"))
        headers = {"Authorization": f"Bearer {info.api_token}"} if info.api_token else {}
        async with httpx.AsyncClient(base_url=info.http_url, headers=headers, timeout=10) as http:
            assert (await http.post("/deployments", json=spec_)).status_code == 201

            async def running() -> list[dict]:
                body = (await http.get("/deployments/steady")).json()
                return [i for i in body["instances"] if i["state"] == "running"]

            (before,) = await wait_for(running, timeout=30)
            state_dir = str(tmp_path / "n" / "jobs")
            old_monitor = monitor_pid(state_dir)
            os.kill(old_monitor, signal.SIGKILL)
            await wait_for(_replaced(node), timeout=30)
            await trio.sleep(1.0)  # the node reports what changed, if anything did
            (after,) = await running()
            assert (after["id"], after["pid"]) == (before["id"], before["pid"])
            assert after["started_at"] == before["started_at"]
            assert (await node.link.ask(GetLinkStatus())).connects == 1  # the agent never left
            assert monitor_pid(state_dir) not in (None, old_monitor)
        await node.processes.shutdown_monitor(kill_jobs=True)
        nursery.cancel_scope.cancel()


def _replaced(node):
    async def check() -> bool:
        return node.processes.monitors_replaced == 1

    return check


async def test_monitor_sigkill_during_a_stop_the_stop_still_completes(tmp_path) -> None:
    ready = tmp_path / "trap-set"
    stubborn = trapping("trap '' TERM", str(ready))
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
            await jobs.start(start_command("hard-0", spec(stubborn, stop_timeout_seconds=2)))
            await wait_real(lambda: any(s.state == "running" for s in link.of("hard-0")))
            await wait_real(ready.exists)
            pid = next(s.pid for s in link.of("hard-0") if s.state == "running")
            await jobs.stop(StopInstance(instance_id="hard-0"))
            await wait_real(lambda: any(s.state == "stopping" for s in link.of("hard-0")))
            os.kill(monitor_pid(node.state_dir), signal.SIGKILL)
            await wait_real(lambda: any(s.state == "stopped" for s in link.of("hard-0")), 30)
            assert ended(pid)
            assert node.manager.monitors_replaced == 1
            assert await node.manager.list_instances() == []
            stopped = next(s for s in link.of("hard-0") if s.state == "stopped")
            assert stopped.final and stopped.reason.startswith("stopped:")


async def test_unknown_exit_is_a_failure_that_on_failure_restarts(tmp_path) -> None:
    """A job that outlived its monitor and is then SIGKILLed: restarted, and said why."""
    policies = {"f-0": "on-failure", "n-0": "never"}
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
            for name, policy in policies.items():
                job = spec(
                    ["sleep", "1000"], restart_policy={"type": policy, "backoff_seconds": 0.1}
                )
                await jobs.start(start_command(name, job))
            running = [lambda n=n: any(s.state == "running" for s in link.of(n)) for n in policies]
            await wait_real(lambda: all(check() for check in running))
            pids = {n: next(s.pid for s in link.of(n) if s.state == "running") for n in policies}
            os.kill(monitor_pid(node.state_dir), signal.SIGKILL)
            await wait_real(lambda: node.manager.monitors_replaced == 1, timeout=30)
            for pid in pids.values():
                os.kill(pid, signal.SIGKILL)

            def runs(name: str) -> list[int]:
                return [s.pid for s in link.of(name) if s.state == "running"]

            await wait_real(lambda: len(set(runs("f-0"))) == 2, timeout=30)
            exited = next(s for s in link.of("f-0") if s.state == "exited")
            assert (exited.exit_code, exited.signal) == (None, None)
            assert exited.reason.startswith("exit status unknown") and not exited.final
            restarting = next(s for s in link.of("f-0") if s.state == "restarting")
            assert restarting.reason.startswith("exit status unknown")
            assert not ended(runs("f-0")[-1])
            report = {r.instance_id: r for r in await jobs.reports()}["f-0"]
            assert (report.state, report.restarts) == ("running", 1)

            await wait_real(lambda: any(s.final for s in link.of("n-0")), timeout=30)
            last = link.of("n-0")[-1]
            assert (last.state, last.reason[:20]) == ("exited", "exit status unknown:")
            assert "restarting" not in [s.state for s in link.of("n-0")]


def _children(pid: int) -> list[int]:
    with open(f"/proc/{pid}/task/{pid}/children") as f:
        return [int(c) for c in f.read().split()]


async def test_leftovers_of_an_adopted_run_are_stopped_when_its_leader_dies(tmp_path) -> None:
    """The leader of a run of the old monitor dies, its child lives on (re-parented to
    init, no child of the new monitor): the run ends only once that child is gone."""
    job = spec(["sh", "-c", "sleep 1000 & wait"], restart_policy={"type": "never"})
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
            await jobs.start(start_command("p-0", job))
            await wait_real(lambda: any(s.state == "running" for s in link.of("p-0")))
            leader = next(s.pid for s in link.of("p-0") if s.state == "running")
            await wait_real(lambda: len(_children(leader)) == 1)
            child = _children(leader)[0]
            os.kill(monitor_pid(node.state_dir), signal.SIGKILL)
            await wait_real(lambda: node.manager.monitors_replaced == 1, timeout=30)
            os.kill(leader, signal.SIGKILL)
            await wait_real(lambda: any(s.final for s in link.of("p-0")), timeout=30)
            assert ended(child)  # before: it ran on, owned by nobody
            assert link.of("p-0")[-1].reason.startswith("exit status unknown")


async def test_a_new_monitor_kills_the_processes_no_record_owns(tmp_path) -> None:
    """A process the old monitor spawned but never recorded (killed between the two):
    the new monitor finds it by its markers and kills it; another node's is left alone."""
    state_dir = str(tmp_path / "node")
    os.makedirs(state_dir, mode=0o700)
    marked = {**os.environ, RUN_ID_ENV: "lost-0.0123456789ab"}
    mine = subprocess.Popen(["sleep", "1000"], env={**marked, STATE_DIR_ENV: state_dir})
    other = subprocess.Popen(["sleep", "1000"], env={**marked, STATE_DIR_ENV: state_dir + "x"})
    command = [*monitor_command(state_dir), "--state-dir", state_dir]
    monitor = subprocess.Popen(command, stdout=subprocess.PIPE)
    try:
        assert monitor.stdout is not None and monitor.stdout.readline() == b"ready\n"
        assert mine.wait(timeout=30) == -signal.SIGKILL
        assert other.poll() is None
    finally:
        other.kill()
        mine.kill()
        monitor_request(state_dir, {"op": "shutdown", "kill": True})
        monitor.wait(timeout=30)
        other.wait()
        assert monitor.stdout is not None
        monitor.stdout.close()


async def test_monitor_lost_right_after_a_stop_never_restarts_the_instance(tmp_path) -> None:
    """The monitor dies after a stop is done but before the agent forgot the instance:
    the re-adoption must not start it again (a job running that nobody stops)."""
    job = spec(["sleep", "1000"])  # on-failure: a re-adoption would have restarted it
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
            await jobs.start(start_command("s-0", job))
            await wait_real(lambda: any(s.state == "running" for s in link.of("s-0")))
            manager = node.manager
            report = manager.feed.on_status

            killed: list[int] = []

            def kill_monitor_when_stopped(update) -> None:
                if update.state == "stopped" and not killed:
                    monitor = monitor_pid(node.state_dir)
                    os.kill(monitor, signal.SIGKILL)
                    killed.append(monitor)
                    while not ended(monitor):  # dead before the agent goes on
                        time.sleep(0.001)
                report(update)

            manager.feed.on_status = kill_monitor_when_stopped
            await manager.stop_instance("s-0")
            await wait_real(lambda: manager.monitors_replaced == 1, timeout=30)
            await trio.sleep(1.0)  # time for a wrongful restart to show
            assert await manager.list_instances() == []
            assert [s.state for s in link.of("s-0")].count("running") == 1
            assert not os.listdir(os.path.join(node.state_dir, "instances"))


def _hold_lock_in_place(state_dir: str) -> int:
    """Put a lock file that this test holds where the monitor's is: a monitor started now
    finds the node "busy" and exits at once, with no socket to connect to (what an agent
    sees when its new monitor is killed right after it started, or when the lock is
    still held by a process forked from the old one). Returns the descriptor to close."""
    held = os.path.join(state_dir, LOCK_NAME + ".held")
    fd = os.open(held, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    os.replace(held, os.path.join(state_dir, LOCK_NAME))
    return fd


async def test_a_monitor_that_started_but_cannot_be_reached_is_a_lost_monitor(tmp_path) -> None:
    state_dir = str(tmp_path / "node")
    os.makedirs(state_dir)
    fd = _hold_lock_in_place(state_dir)
    try:
        with trio.fail_after(30), pytest.raises(MonitorLost, match="could not be reached"):
            await MonitorClient(state_dir).run()
    finally:
        os.close(fd)


async def test_a_replacement_monitor_out_of_reach_is_tried_again(tmp_path) -> None:
    """The monitor dies and its replacement cannot be reached at first: the agent keeps
    trying (with backoff) rather than exiting, and re-adopts the job once one answers."""
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
            pid = await start_running(jobs, link, "a-0", spec(["sleep", "1000"]))
            old_monitor = monitor_pid(node.state_dir)
            fd = _hold_lock_in_place(node.state_dir)
            try:
                os.kill(old_monitor, signal.SIGKILL)
                await wait_real(lambda: ended(old_monitor))
                await trio.sleep(1.0)  # the first replacements find the node busy
                assert node.manager.monitors_replaced == 0
            finally:
                os.close(fd)
            await readopted(node.manager, pid)


async def test_shutdown_right_after_the_monitor_died_still_kills_the_jobs(tmp_path) -> None:
    """``symphony up`` stopping, or ``symphony node stop``, just as the monitor dies: the
    jobs it ran are still running, and no replacement comes once the node is closing, so
    the shutdown starts a monitor of its own to kill them (and none starts after)."""
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node"), keep_monitor=True) as node:
            manager = node.manager
            await node.start("a-0", spec(["sleep", "1000"]))
            pid = (await node.wait_for("a-0", "running")).pid
            old_monitor = monitor_pid(node.state_dir)
            fd = _hold_lock_in_place(node.state_dir)  # no replacement until closed
            try:
                os.kill(old_monitor, signal.SIGKILL)
                # Lost, then three replacements failed: the manager now waits 1 s.
                await wait_real(lambda: manager._generation >= 4)
            finally:
                os.close(fd)
            await manager.shutdown_monitor(kill_jobs=True)
            await wait_real(lambda: ended(pid))
            await trio.sleep(1.5)  # past the manager's next retry: it must not start one
            assert monitor_pid(node.state_dir) is None
            assert ended(pid)


async def test_a_stop_of_a_running_instance_whose_start_waits_again_stops_the_job(
    tmp_path,
) -> None:
    """A start repeated (after a reconnect) while the monitor is replaced waits for one;
    a stop then must not be answered "stopped before it started", as it is for a start
    that never ran here: this job runs, and the stop ends it once a monitor is up."""
    job = spec(["sleep", "1000"])
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
            pid = await start_running(jobs, link, "r-0", job)
            fd = _hold_lock_in_place(node.state_dir)
            try:
                os.kill(monitor_pid(node.state_dir), signal.SIGKILL)
                await wait_real(lambda: node.manager._generation >= 2)  # none can start
                await jobs.start(start_command("r-0", job))  # waits for a monitor
                await jobs.stop(StopInstance(instance_id="r-0"))
                await trio.sleep(0.5)  # time for a wrong answer to reach the link
                assert not ended(pid)
                assert [s.state for s in link.of("r-0")] == ["starting", "running"]
            finally:
                os.close(fd)
            await wait_real(lambda: any(s.state == "stopped" for s in link.of("r-0")), 30)
            assert ended(pid)
            await trio.sleep(0.5)  # time for a second answer to show
            [stopped] = [s for s in link.of("r-0") if s.state == "stopped"]
            assert stopped.final and stopped.reason.startswith("stopped:"), stopped


async def test_a_stop_of_a_start_that_waits_for_a_monitor_is_answered_at_once(tmp_path) -> None:
    """A start that never ran here waits for a monitor; its stop is answered at once,
    and once a monitor is up nothing starts."""
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
            await start_running(jobs, link, "a-0", spec(["sleep", "1000"]))
            fd = _hold_lock_in_place(node.state_dir)
            try:
                os.kill(monitor_pid(node.state_dir), signal.SIGKILL)
                await wait_real(lambda: node.manager._generation >= 2)
                await jobs.start(start_command("n-0", spec(["sleep", "1000"])))
                await jobs.stop(StopInstance(instance_id="n-0"))
                await wait_real(lambda: bool(link.of("n-0")))
                [stopped] = link.of("n-0")
                assert (stopped.state, stopped.reason) == ("stopped", "stopped before it started")
                assert stopped.final and stopped.deployment_id == "dep-1"
            finally:
                os.close(fd)
            await wait_real(lambda: node.manager.monitors_replaced == 1, timeout=30)
            await trio.sleep(0.5)  # time for a wrongful start to show
            assert len(link.of("n-0")) == 1
            assert [r.instance_id for r in await node.manager.list_instances()] == ["a-0"]
