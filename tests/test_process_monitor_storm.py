"""The node monitor killed again and again, at random moments, while jobs start and stop.

Real processes throughout. A seeded sequence of starts and stops (fresh instance ids, as
the Conductor sends them) runs while another task SIGKILLs every process of the node's
monitor at random intervals: the monitor, the loggers it forked, and a replacement while
it is still starting (the moment a replacement can be out of reach, which once took the
whole agent down). Afterwards the agent must still run, hold exactly the instances
started and not stopped, and no process of a stopped instance may be left.

Timing is real, so each run takes its own path; the seeds fix the actions and the pauses
between kills. A failure names its seed.
"""

from __future__ import annotations

import contextlib
import os
import random
import signal

import psutil
import pytest
import trio

from symphony.node.process.proctree import RUN_ID_ENV, STATE_DIR_ENV
from symphony.wire import StopInstance
from tests.jobs.harness import open_jobs, open_node, spec, start_command, wait_real

STEPS = 30
#: The job writes now and then, so that its output goes through a logger the storm kills.
TICKING = ["sh", "-c", "while :; do echo tick; sleep 0.05; done"]


def monitor_processes(state_dir: str) -> list[int]:
    """The node's monitor processes: the monitor, a replacement starting, forked loggers
    (all carry the monitor's command line)."""
    pids = []
    for proc in psutil.process_iter(["cmdline"]):
        command = proc.info["cmdline"] or []
        if "--daemon" in command and state_dir in command:
            pids.append(proc.pid)
    return pids


def job_instances(state_dir: str) -> set[str]:
    """The instances that have a process running on this node (found by environment)."""
    found = set()
    for proc in psutil.process_iter():
        with contextlib.suppress(psutil.Error):
            if proc.status() == psutil.STATUS_ZOMBIE:
                continue
            env = proc.environ()
            if env.get(STATE_DIR_ENV) == state_dir and RUN_ID_ENV in env:
                found.add(env[RUN_ID_ENV].rsplit(".", 1)[0])
    return found


@pytest.mark.timeout(180)
@pytest.mark.parametrize("seed", [1, 2])
async def test_monitor_killed_at_random_moments_loses_nothing(tmp_path, seed: int) -> None:
    rng = random.Random(seed)
    state_dir = str(tmp_path / "node")
    job = spec(TICKING)
    live: set[str] = set()  # started and not stopped
    with trio.fail_after(150):
        async with open_node(state_dir) as node, open_jobs(node) as (jobs, _link):
            manager = node.manager
            done = trio.Event()

            async def storm() -> None:
                while True:
                    await trio.sleep(rng.uniform(0.0, 0.2))
                    if done.is_set():
                        return
                    for pid in monitor_processes(state_dir):
                        with contextlib.suppress(ProcessLookupError):
                            os.kill(pid, signal.SIGKILL)

            async with trio.open_nursery() as nursery:
                nursery.start_soon(storm)
                for step in range(STEPS):
                    if live and rng.random() < 0.4:
                        name = rng.choice(sorted(live))
                        await jobs.stop(StopInstance(instance_id=name))
                        live.discard(name)
                    else:
                        name = f"j{step}-0"
                        await jobs.start(start_command(name, job))
                        live.add(name)
                    await trio.sleep(rng.uniform(0.0, 0.1))
                done.set()
            # Every stop and start carried out (a start waits for a monitor in the
            # background), a monitor serving again.
            await wait_real(
                lambda: manager.ready and not jobs._stopping and not jobs._waiting, timeout=60
            )
            listed = {report.instance_id for report in await manager.list_instances()}
            assert listed == live, f"seed {seed}"
            assert job_instances(state_dir) <= live, f"seed {seed}"
            assert manager.monitors_replaced >= 1, f"seed {seed}: the storm missed"
