"""Moving replicas off draining nodes: what a DeploymentSupervisor does about them (pure).

A node being drained keeps what it runs but takes nothing new (the placement core sees
to that). Its replicas are moved the way ``kubectl drain`` evicts, but replacement
first, so a replica never has a gap:

1. a replica whose only live instance is on a draining node gets a **replacement**: a new
   instance, placed like any other (so never on a draining node);
2. once the replacement is ``running``, the old instance is **stopped** (its stop signal,
   its stop timeout, on its node, as for any stop);
3. if the replacement fits nowhere, it stays ``pending`` with the Scheduler's reason
   (``1 node in group gpu-1, none taking new work: 1 draining``) and the old one keeps
   running: the move completes as soon as room appears elsewhere.

Undrained before a move completed: once one instance of the replica runs, the others
(the replacement not yet running, or the old copy) are stopped, keeping the one that
has run longest. The rules read only the instance records and the set of draining
nodes, so a restarted Conductor picks up where it was, with nothing of its own to
remember.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass

from symphony.wire.states import InstanceState, is_live

from ..store import InstanceRecord
from .retries import Retries


@dataclass(frozen=True, slots=True)
class DrainMoves:
    """What to do now: replicas to give a replacement, instances to stop (with the
    reason), and events worth recording (instance, message)."""

    replace: tuple[int, ...] = ()
    stops: tuple[tuple[InstanceRecord, str], ...] = ()
    notes: tuple[tuple[InstanceRecord, str], ...] = ()


def drain_moves(
    instances: Mapping[str, InstanceRecord],
    draining: frozenset[str],
    wanted: int,
    generation: int,
    retries: Retries,
) -> DrainMoves:
    """The moves for one deployment's ``instances`` (by id; see the module docstring).

    Only live instances of the current ``generation`` and of replicas below ``wanted``
    count, and none being stopped: scaling down and spec changes have their own rules.
    A replica that ``retries`` blocks (waiting to be rescheduled after a failure, or
    given up) gets no replacement.
    """
    by_replica: dict[int, list[InstanceRecord]] = defaultdict(list)
    for inst in instances.values():
        if (
            is_live(inst.state)
            and inst.state != InstanceState.STOPPING
            and inst.generation == generation
            and inst.replica < wanted
        ):
            by_replica[inst.replica].append(inst)
    replace: list[int] = []
    stops: list[tuple[InstanceRecord, str]] = []
    notes: list[tuple[InstanceRecord, str]] = []
    for replica, live in sorted(by_replica.items()):
        leaving = [i for i in live if i.node_id is not None and i.node_id in draining]
        staying = [i for i in live if i not in leaving]
        running = sorted((i for i in staying if i.state == "running"), key=_longest_first)
        if leaving and not staying:
            if not retries.blocks(replica):
                replace.append(replica)
                old = leaving[0]
                notes.append((old, f"moving {old.id} off node {old.node_id}: it is draining"))
        elif leaving and running:
            for old in leaving:
                reason = f"moved off draining node {old.node_id} (replaced by {running[0].id})"
                stops.append((old, reason))
        elif not leaving and len(staying) > 1 and running:
            # Undrained before the move completed: one instance per replica again.
            for extra in staying:
                if extra is not running[0]:
                    stops.append((extra, "not needed: its node is no longer draining"))
    return DrainMoves(tuple(replace), tuple(stops), tuple(notes))


def _longest_first(inst: InstanceRecord) -> tuple[float, str]:
    return (inst.started_at if inst.started_at is not None else math.inf, inst.id)
