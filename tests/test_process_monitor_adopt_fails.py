"""A replacement monitor whose jobs cannot be re-adopted just now is tried again later.

The node monitor dies; a new one is up, but the agent is out of file descriptors (what
killed the old one, as often as not), so reading the instance records to re-adopt the
jobs fails with EMFILE. That OSError escaped the process manager, which replaces a
monitor only on MonitorLost: the whole agent exited. Now a failed adoption is a lost
monitor: retried with backoff, and the jobs are re-adopted (not restarted) once
descriptors are back.

Real processes throughout; the shortage is real too (the test uses up its own
descriptors for a moment, leaving one: enough to connect to the new monitor).
"""

from __future__ import annotations

import os
import signal
import subprocess

import trio

from symphony.node.process.client import monitor_command
from tests.jobs.fds import no_free_descriptors
from tests.jobs.harness import (
    ended,
    monitor_pid,
    open_jobs,
    open_node,
    readopted,
    spec,
    start_running,
    wait_real,
)
from tests.test_process_monitor_loss import _hold_lock_in_place


async def test_a_replacement_whose_adoption_fails_for_descriptors_is_tried_again(
    tmp_path,
) -> None:
    with trio.fail_after(90):
        async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
            manager = node.manager
            pid = await start_running(jobs, link, "a-0", spec(["sleep", "1000"]))
            old_monitor = monitor_pid(node.state_dir)
            assert old_monitor is not None
            lock = _hold_lock_in_place(node.state_dir)  # no replacement of the agent's own
            try:
                os.kill(old_monitor, signal.SIGKILL)
                await wait_real(lambda: ended(old_monitor))
                # Lost, then five replacements failed: the manager now waits 5 s, time
                # enough to start the new monitor from here, as if another had.
                await wait_real(lambda: manager._generation >= 6, timeout=30)
            finally:
                os.close(lock)
            command = [*monitor_command(node.state_dir), "--state-dir", node.state_dir]
            subprocess.run([*command, "--daemon"], check=True, stdin=subprocess.DEVNULL)
            new_monitor = monitor_pid(node.state_dir)
            assert new_monitor is not None
            generation = manager._generation
            spare = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
            with no_free_descriptors():
                os.close(spare)  # the one descriptor there is: the new connection's
                await wait_real(lambda: manager._generation > generation, timeout=30)
                assert manager.monitors_replaced == 0  # connected, not adopted
            await readopted(manager, pid)
            assert monitor_pid(node.state_dir) == new_monitor and not ended(pid)
            assert [s.state for s in link.of("a-0")].count("starting") == 1
