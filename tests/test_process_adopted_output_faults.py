"""What a new monitor does with adopted runs' output it cannot take over safely.

The defects a review of ``process/adoptedlogs.py`` found, each pinned with real node
processes and real jobs, as in ``tests/test_process_adopted_output.py``.
"""

from __future__ import annotations

import dataclasses
import os
import signal

import trio

from tests.jobs.harness import monitor_pid, open_jobs, open_node, spec, start_command, wait_real
from tests.test_process_adopted_output import _log, _pipe, _readers_of, _unread
from tests.test_process_node_machine import log_size

SECRET = "s3cr3t-value"
# The job re-exports its secret before exec: its environment no longer holds the value.
REEXPORTED = spec(
    [
        "sh",
        "-c",
        'export TOKEN="Bearer $TOKEN"; exec sh -c \'while :; do echo "bare=${TOKEN#Bearer }";'
        " sleep 0.05; done'",
    ],
    env={"TOKEN": {"secret": "tok"}},
)


async def test_a_secret_reexported_before_exec_is_never_written_unmasked(tmp_path) -> None:
    """The leader's environment holds "Bearer <secret>" under the secret's name: a new
    monitor must not mask that instead of the secret (the bare value would go unmasked)."""
    command = dataclasses.replace(start_command("bearer-0", REEXPORTED), secrets={"TOKEN": SECRET})
    with trio.fail_after(60):
        async with open_node(str(tmp_path / "node")) as node, open_jobs(node) as (jobs, link):
            await jobs.start(command)
            await wait_real(lambda: any(s.state.value == "running" for s in link.of("bearer-0")))
            (pid,) = {s.pid for s in link.of("bearer-0") if s.pid is not None}
            await wait_real(lambda: bool(_readers_of(_pipe(pid))))
            await wait_real(lambda: "bare=***" in _log(node.state_dir, "bearer-0"))
            (logger,) = _readers_of(_pipe(pid))
            monitor = monitor_pid(node.state_dir)
            assert monitor is not None
            os.kill(logger, signal.SIGKILL)
            os.kill(monitor, signal.SIGKILL)
            await wait_real(lambda: node.manager.monitors_replaced >= 1)
            size = log_size(node.state_dir, "bearer-0")
            # Either a logger took the run over (and writes), or its output waits unread.
            await wait_real(
                lambda: (
                    log_size(node.state_dir, "bearer-0") > size + 100
                    or not os.path.exists(f"/proc/{pid}")
                    or _unread(pid) > 2000
                ),
                timeout=20,
            )
            assert SECRET not in _log(node.state_dir, "bearer-0")
