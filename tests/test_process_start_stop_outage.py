"""A start and then a stop of one instance, both waiting for a replacement monitor.

While a lost monitor is replaced, the manager's starts and stops wait for the new one
(``wait_ready``), and they all wake together when it serves. Trio runs the woken tasks
in either order (it reverses a batch half the time, to shake out exactly this), so the
stop may look for the instance before the start that came first has made it. It used
to find nothing (``UnknownInstance``: "not running on this node"), and then the start
ran the job, which nobody would stop. A stop now waits for a start of the same instance
that is under way.

Real monitor, real jobs. Each round kills the monitor and issues its starts and stops
while no monitor serves; two instances a round, and several rounds, so that the order
that lost the stop comes up in all but a vanishing share of runs of the old code.
"""

from __future__ import annotations

import functools
import os
import signal

import trio

from symphony.node.process.manager import InstanceReport, ProcessManager, StartRequest
from symphony.wire import JobSpec
from tests.jobs.harness import ended, monitor_pid, open_node, spec, wait_real

ROUNDS = 6


async def test_a_stop_that_wakes_first_still_stops_the_start_before_it(tmp_path) -> None:
    job = spec(["sleep", "1000"])
    with trio.fail_after(90):
        async with open_node(str(tmp_path / "node")) as node:
            manager = node.manager
            for round_ in range(ROUNDS):
                names = [f"r{round_}a-0", f"r{round_}b-0"]
                old = monitor_pid(node.state_dir)
                assert old is not None
                os.kill(old, signal.SIGKILL)
                await wait_real(lambda: not manager.ready)
                stopped = await _start_then_stop(manager, names, job)
                await wait_real(functools.partial(ended, old))
                assert set(stopped) == set(names), f"round {round_}"
                listed = {report.instance_id for report in await manager.list_instances()}
                assert not listed & set(names), f"round {round_}: {sorted(listed)} still run"


async def _start_then_stop(
    manager: ProcessManager, names: list[str], job: JobSpec
) -> dict[str, InstanceReport]:
    """Start each of ``names``, and once the starts wait for the monitor, stop each."""
    stopped: dict[str, InstanceReport] = {}

    async def start(name: str) -> None:
        await manager.start_instance(StartRequest(instance_id=name, spec=job, deployment_id="d"))

    async def stop(name: str) -> None:
        stopped[name] = await manager.stop_instance(name)

    async with trio.open_nursery() as nursery:
        for name in names:
            nursery.start_soon(start, name)
        # The starts are waiting for the monitor before the stops are made.
        for _ in range(10):
            await trio.lowlevel.checkpoint()
        assert not manager.ready, "the replacement came too soon to test"
        for name in names:
            nursery.start_soon(stop, name)
    return stopped
