"""A shared logger killed, and the monitor killed before it has replaced it.

A killed logger's runs keep their pipes' read ends in the monitor until it hands them to
a new logger (``process/logpool.py``). The monitor killed in between (a few ms after the
logger, before it reaped it) left those pipes with no reader at all: the job's next
write got SIGPIPE and it died, and the next monitor restarted it ("exit status unknown").
Found by the node state machine (``test_process_node_machine.py``). Now the job's own
ends of its pipes are open read-write (a reader as long as it runs), and the next
monitor gives the run's output to a logger of its own (``process/adoptedlogs.py``).
"""

from __future__ import annotations

import os

import trio

from tests.jobs.harness import kill_logger_then_monitor, monitor_pid, open_node, spec, wait_real
from tests.test_process_monitor_restart_order import _loggers
from tests.test_process_node_machine import log_size

TICKING = spec(["sh", "-c", "while :; do echo tick; sleep 0.05; done"])


async def test_a_job_survives_its_logger_and_then_its_monitor_killed(tmp_path) -> None:
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node:
            await node.start("tick-0", TICKING)
            running = await node.wait_for("tick-0", "running")
            monitor = monitor_pid(node.state_dir)
            assert monitor is not None
            await wait_real(lambda: bool(_loggers(monitor)))
            (logger,) = _loggers(monitor)
            kill_logger_then_monitor(logger, monitor)  # before it could hand the runs on
            await wait_real(lambda: node.manager.monitors_replaced >= 1)
            size = log_size(node.state_dir, "tick-0")
            # Ten more lines of it, or its end.
            await wait_real(
                lambda: (
                    "exited" in node.states("tick-0")
                    or log_size(node.state_dir, "tick-0") > size + 50
                )
            )
            # Re-adopted (a "running" again, the same pid), never ended nor restarted.
            assert set(node.states("tick-0")) == {"starting", "running"}
            assert {u.pid for u in node.of("tick-0") if u.state == "running"} == {running.pid}
            assert os.path.exists(f"/proc/{running.pid}")
