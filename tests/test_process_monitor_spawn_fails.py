"""A replacement monitor that cannot even be spawned is a lost monitor, tried again.

The node monitor dies (killed, or the OOM killer's pick) while the agent is short of
what spawning a process takes (file descriptors here; memory or processes elsewhere).
Spawning the replacement raised that OSError out of the process manager, which only
replaces a monitor on MonitorLost: the whole agent exited. Real processes; the
shortage is real too (the test uses up its own descriptors for a moment).
"""

from __future__ import annotations

import os
import signal

import trio

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


async def test_a_replacement_monitor_that_cannot_be_spawned_is_tried_again(tmp_path) -> None:
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
            manager = node.manager
            pid = await start_running(jobs, link, "a-0", spec(["sleep", "1000"]))
            old_monitor = monitor_pid(node.state_dir)
            assert old_monitor is not None
            # The one descriptor freed by the monitor's end is all there is: enough for
            # a socket to try, not for the pipes and /dev/null of a spawn.
            with no_free_descriptors():
                os.kill(old_monitor, signal.SIGKILL)
                # Lost, then a replacement failed to spawn: the manager goes on trying.
                await wait_real(lambda: manager._generation >= 2)
                assert manager.monitors_replaced == 0
            await readopted(manager, pid)
            assert ended(old_monitor) and not ended(pid)
