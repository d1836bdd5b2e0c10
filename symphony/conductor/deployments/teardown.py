"""Tearing deployments down: stop every process group, then delete; one teardown each.

A DELETE (of a deployment, or of an experiment and its processes) waits for its stops,
whose confirmations come back through the Deployments actor's own mailbox, so the
actor answers it later from a background task (see :mod:`.manager`). Two things must
hold while that task runs:

- **A change queued behind the DELETE is refused.** The deployment is marked in the
  handler itself (:func:`claim_teardowns`), before the actor reads its next message: a
  mark set by the background task came too late for a PATCH already waiting in the
  mailbox whenever Trio ran the actor first, and that PATCH was answered 200 and then
  vanished with the deployment.
- **A repeated DELETE joins the teardown under way** (a client retrying, an experiment
  deleted while one of its processes is): it waits for that one's end and is answered
  with it, instead of a second teardown that finds the supervisor gone, warns of stops
  it could not confirm, and clears the mark while the first still runs.

The mark is the Event its teardown sets when it ends (``Deployments.deleting``).
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from symphony.actors import ActorStopped, AskTimeout

from ..store import DeploymentRecord
from .messages import Teardown

if TYPE_CHECKING:
    from .manager import Deployments

log = logging.getLogger("symphony.conductor.deployments")

#: Seconds a teardown waits for its supervisor's stops beyond the job's stop timeout.
TEARDOWN_SLACK = 15.0


@dataclass(frozen=True, slots=True)
class Teardowns:
    """What one DELETE tears down itself, and the teardowns under way it waits for."""

    mine: Sequence[DeploymentRecord]
    theirs: Sequence[trio.Event]


def claim_teardowns(manager: Deployments, records: Iterable[DeploymentRecord]) -> Teardowns:
    """Mark each deployment as being deleted, now (call it in the message's handler);
    one already being deleted is left to its teardown, and waited for."""
    mine: list[DeploymentRecord] = []
    theirs: list[trio.Event] = []
    for record in records:
        under_way = manager.deleting.get(record.id)
        if under_way is None:
            manager.deleting[record.id] = trio.Event()
            mine.append(record)
        else:
            theirs.append(under_way)
    return Teardowns(mine, theirs)


async def tear_down(manager: Deployments, teardowns: Teardowns) -> None:
    """Run this DELETE's teardowns (in parallel) and wait for the others it joined."""
    async with trio.open_nursery() as nursery:
        for record in teardowns.mine:
            nursery.start_soon(functools.partial(_teardown_one, manager), record)
        for ended in teardowns.theirs:
            nursery.start_soon(ended.wait)


async def _teardown_one(manager: Deployments, record: DeploymentRecord) -> None:
    """Stop the deployment's process groups (bounded: a node that cannot be reached now
    is told to stop its copies, orphans by then, when it comes back), then delete it."""
    limit = record.spec.stop_timeout_seconds + TEARDOWN_SLACK
    try:
        try:
            await manager.child(record.id).ask(Teardown(), timeout=limit)
        except (AskTimeout, ActorStopped, KeyError) as error:
            log.warning("deleting %s without confirmed stops: %s", record.name, error)
        with contextlib.suppress(KeyError):
            await manager.terminate_child(record.id)
        manager.store.delete_deployment(record.id)
    finally:
        manager.deleting.pop(record.id).set()


__all__ = ["TEARDOWN_SLACK", "Teardowns", "claim_teardowns", "tear_down"]
