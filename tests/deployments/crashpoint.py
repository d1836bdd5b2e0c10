"""A Conductor whose placements never reach its store: ``python -m
tests.deployments.crashpoint <arguments of the symphony command>``.

The window it holds open: the Scheduler has sent an instance's start to its node, and
the placement is on its way to the store (the instance's supervisor saves it when the
Scheduler's news reaches it). A Conductor killed in that window lost the placement but
not the start. A real SIGKILL lands there for a few milliseconds at most; here every
save of a placement waits forever instead (only that supervisor waits: the rest of the
Conductor, the start's way to the node included, goes on), so a test can SIGKILL the
process in the window every time. The hook sits at the store's boundary and changes
nothing else.
"""

from __future__ import annotations

import sys
from collections.abc import Mapping, Sequence
from typing import Any

import trio

from symphony.cli import main
from symphony.conductor.deployments import savegroup
from symphony.conductor.store import InstanceRecord, NewEvent
from symphony.wire.states import InstanceState

_save = savegroup.SaveGroup.save


async def _held(
    self: savegroup.SaveGroup,
    instances: Sequence[InstanceRecord],
    events: Sequence[NewEvent],
    counters: Mapping[str, int] | None = None,
) -> Any:
    if any(i.node_id is not None and i.state == InstanceState.ASSIGNED for i in instances):
        await trio.sleep_forever()  # the placement never gets stored: kill us now
    return await _save(self, instances, events, counters)


if __name__ == "__main__":
    savegroup.SaveGroup.save = _held  # type: ignore[method-assign]
    sys.exit(main())
