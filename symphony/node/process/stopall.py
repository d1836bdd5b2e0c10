"""Stopping every instance of a node at once: the end of a node together with its jobs.

An agent that goes (killed, upgraded) leaves its jobs running for the next agent to
adopt. Two ways end the jobs too:

- ``symphony node stop`` with no agent running: :func:`stop_adopted` stops what an
  earlier agent left, once the manager re-adopted it with every stop already requested
  (so that nothing is started or restarted meanwhile, not even an instance waiting out
  a restart's backoff); it reports what became of each (:class:`StoppedInstance`);
- ``symphony up`` stopping: :func:`stop_each` stops what this agent runs.

Each instance is stopped the way a stop from the Conductor does it (its stop signal to
the whole tree, its stop timeout, then SIGKILL), all of them at once: the node's end
takes the longest stop timeout, not their sum.

Example (what ``ProcessManager.stop_all`` does after marking them to stop)::

    stopped = await stop_adopted(manager, records)
    print([(s.report.instance_id, s.pid, s.ended_before) for s in stopped])
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from symphony.actors import ActorStopped

from .client import MonitorError
from .localstate import SavedInstance
from .records import InstanceReport

if TYPE_CHECKING:
    from .manager import ProcessManager

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoppedInstance:
    """One instance stopped by :meth:`ProcessManager.stop_all`.

    ``report`` is its final report; ``pid`` the process it was running when found
    (None: none ran); ``ended_before`` its final state when it had ended before the
    stop (``exited``, ``failed``), else None.
    """

    report: InstanceReport
    pid: int | None = None
    ended_before: str | None = None


async def stop_adopted(
    manager: ProcessManager, records: Sequence[SavedInstance]
) -> list[StoppedInstance]:
    """Adopt ``records`` (their stops already requested) and stop them all; by id."""
    from .manager import UnknownInstance  # here: the manager imports this module

    final = {s.request.instance_id: s.final_state for s in records}
    pids = {report.instance_id: report.pid for report in await manager.adopt(records)}
    stopped: list[StoppedInstance] = []

    async def stop(instance_id: str) -> None:
        with contextlib.suppress(UnknownInstance):  # gone meanwhile: nothing to stop
            report = await manager.stop_instance(instance_id)
            ended = final.get(instance_id)
            stopped.append(
                StoppedInstance(report, pids[instance_id], ended if ended != "stopped" else None)
            )

    async with trio.open_nursery() as nursery:
        for instance_id in sorted(pids):
            nursery.start_soon(stop, instance_id)
    return sorted(stopped, key=lambda s: s.report.instance_id)


async def stop_each(manager: ProcessManager, instance_ids: Iterable[str]) -> None:
    """Stop these instances at once; one whose supervision is gone is left to the
    monitor's shutdown (``ProcessManager.shutdown_monitor``), which kills what is left."""
    from .manager import UnknownInstance

    async def stop(instance_id: str) -> None:
        try:
            await manager.stop_instance(instance_id)
        except (UnknownInstance, ActorStopped, MonitorError) as error:
            logger.debug("orderly stop of %s: %s", instance_id, error)

    async with trio.open_nursery() as nursery:
        for instance_id in instance_ids:
            nursery.start_soon(stop, instance_id)
