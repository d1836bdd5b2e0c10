"""A command or a job that fails fails that instance only, never the agent.

ProcessJobs runs stops (and starts that probe their tunnels first) in a nursery of its
own, beside the node's tree: whatever escaped one of those tasks ended the whole agent;
so did a record that could not be saved as a job exited. Real processes: the node
monitor is frozen with SIGSTOP, so that a stop cannot finish within its ask's timeout;
a directory where an instance's record goes makes saving it fail, as a full disk does.
"""

from __future__ import annotations

import dataclasses
import os
import signal
import ssl

import pytest
import trio
import trio.testing

from symphony.node.relay import NodeRelay, RelayDial
from symphony.node.tunnels import Tunnels
from symphony.wire import JobSpec, StopInstance
from symphony.wire.jobspec import JobExperiment
from tests.jobs.harness import monitor_pid, open_jobs, open_node, spec, start_command, wait_real


@pytest.fixture
def clock() -> trio.testing.MockClock:
    # The agent's clock jumps only when the agent has had nothing to do for 0.1 s: the
    # stop's 30 s timeout passes at once while the monitor is frozen.
    return trio.testing.MockClock(autojump_threshold=0.1)


async def test_jobs_stop_outlasting_its_timeout_on_a_frozen_monitor_waits_it_out(
    tmp_path, clock: trio.testing.MockClock
) -> None:
    state_dir = str(tmp_path / "node")
    async with open_node(state_dir) as node, open_jobs(node) as (jobs, link):
        await jobs.start(start_command("slow-0", spec(["sleep", "1000"])))
        await jobs.start(start_command("other-0", spec(["sleep", "1000"])))
        await wait_real(lambda: all(link.of(i) for i in ("slow-0", "other-0")))
        await node.wait_for("slow-0", "running")
        await node.wait_for("other-0", "running")
        pid = monitor_pid(state_dir)
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)
        try:
            began = trio.current_time()
            await jobs.stop(StopInstance(instance_id="slow-0"))
            # The stop's ask times out (its stop timeout + 30 s), twice, while the
            # monitor sleeps: the stop is still under way.
            await trio.sleep_until(began + 100)
            assert "slow-0" in jobs._stopping
        finally:
            os.kill(pid, signal.SIGCONT)
        # The agent is still here: the monitor, awake again, ends the job, the stop
        # finishes, and the other job runs on.
        await node.wait_for("slow-0", "stopped")
        await wait_real(lambda: not jobs._stopping)
        reports = {r.instance_id: r.state for r in await node.manager.list_instances()}
        assert reports == {"other-0": "running"}


def _unwritable_record(state_dir: str, instance_id: str) -> None:
    """A directory where the instance's outcome file goes: saving its record fails with
    an OSError, as on a full disk (whoever runs the tests, root included)."""
    os.makedirs(os.path.join(state_dir, "instances", f"{instance_id}.outcome"))


def _tunnelled(command: list[str]) -> JobSpec:
    """An experiment's process that reaches a name bound elsewhere: its start probes the
    address first, in the background."""
    job = spec(command, env={"SYMPH_ECHO_HOST": "127.0.0.1", "SYMPH_ECHO_PORT": "9"})
    role = JobExperiment(binds={}, exposes={}, connects=("echo",), network="relay")
    return dataclasses.replace(job, experiment=role)


async def test_jobs_tunnelled_start_failing_reports_failed_and_the_agent_goes_on(
    tmp_path,
) -> None:
    state_dir = str(tmp_path / "node")
    async with open_node(state_dir) as node, open_jobs(node) as (jobs, link):
        relay = NodeRelay(
            RelayDial(host="127.0.0.1", port=9, ssl_context=ssl.create_default_context()),
            node.manager.live_requests,
        )
        jobs.tunnels = Tunnels(relay)
        _unwritable_record(node.manager.state_dir, "bad-0")
        with trio.fail_after(20):
            await jobs.start(start_command("bad-0", _tunnelled(["sleep", "1000"])))
            await wait_real(lambda: bool(link.of("bad-0")))
            (failed,) = link.of("bad-0")
            assert failed.state == "failed" and failed.final
            assert failed.reason is not None and "cannot start" in failed.reason
            # The agent goes on: the next start of the same kind runs.
            await jobs.start(start_command("good-0", _tunnelled(["sleep", "1000"])))
            await node.wait_for("good-0", "running")


async def test_jobs_start_failing_to_save_reports_failed_and_frees_its_gpu(tmp_path) -> None:
    state_dir = str(tmp_path / "node")
    async with open_node(state_dir, gpus=["0"]) as node, open_jobs(node) as (jobs, link):
        _unwritable_record(node.manager.state_dir, "bad-0")
        with trio.fail_after(20):
            await jobs.start(start_command("bad-0", spec(["sleep", "1000"]), gpus=1))
            await wait_real(lambda: bool(link.of("bad-0")))
            (failed,) = link.of("bad-0")
            assert failed.state == "failed" and "Is a directory" in (failed.reason or "")
            # Its device was never used: the next instance that needs it gets it.
            await jobs.start(start_command("good-0", spec(["sleep", "1000"]), gpus=1))
            running = await node.wait_for("good-0", "running")
            assert running.devices == ("0",)


async def test_jobs_record_that_cannot_be_saved_at_an_exit_leaves_the_agent_running(
    tmp_path,
) -> None:
    state_dir = str(tmp_path / "node")
    go = tmp_path / "go"
    waits = ["sh", "-c", f'while [ ! -f "{go}" ]; do sleep 0.01; done; exit 3']
    async with open_node(state_dir) as node, open_jobs(node) as (jobs, link):
        with trio.fail_after(30):
            await jobs.start(start_command("full-0", spec(waits, restart_policy={"type": "never"})))
            await node.wait_for("full-0", "running")
            # From now on its record cannot be written (as on a full disk) when it exits.
            _unwritable_record(node.manager.state_dir, "full-0")
            go.touch()
            exited = await node.wait_for("full-0", "exited")
            assert exited.exit_code == 3 and exited.final
            await wait_real(lambda: any(s.final for s in link.of("full-0")))  # to the Conductor
            # The agent goes on: the other instances' supervision and new starts.
            await jobs.start(start_command("next-0", spec(["sleep", "1000"])))
            await node.wait_for("next-0", "running")
