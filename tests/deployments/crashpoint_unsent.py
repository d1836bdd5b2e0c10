"""A Conductor whose starts never leave the Scheduler: ``python -m
tests.deployments.crashpoint_unsent <arguments of the symphony command>``.

The window it holds open: the Scheduler has stored a plan's placements (the instances
``assigned`` to their nodes) and has not sent their starts yet. A Conductor killed there
has the placement but the node never heard of the job; started again, it must send the
start when that node's hello comes (its hello lacks the instance). Here every batch of
starts waits forever instead of going out (the Scheduler waits with it), so a test can
SIGKILL the process in the window every time. The hook sits at the Scheduler's send and
changes nothing else.
"""

from __future__ import annotations

import sys

import trio

from symphony.cli import main
from symphony.conductor.deployments.scheduler import Scheduler
from symphony.wire import StartInstance


async def _never_sent(self: Scheduler, node_id: str, commands: list[StartInstance]) -> None:
    await trio.sleep_forever()  # stored, not sent: kill us now


if __name__ == "__main__":
    Scheduler._send_starts = _never_sent  # type: ignore[method-assign]
    sys.exit(main())
