"""Foreseen reasons: a new group's first instances are stored once, with their reason.

A create stores a deployment with its first instances ``pending``. When no node fits
them, the Scheduler says why right after the commit, and each supervisor used to save
that reason with its event in a second transaction: every instance written twice, and
every supervisor woken once more only to write it. Instead, before the group's
transaction, the Deployments manager asks the Scheduler why each of the group's first
instances would wait (:class:`~.messages.ForeseeReasons`: a plan made without reserving
anything or telling anyone), and stores each one with that reason and its ``pending``
event, in the create's own transaction.

The foreseen reason is a hint, never a decision: the placement itself is asked for after
the commit, as before, and the Scheduler plans it against the capacity of that moment.
Each request carries the reason stored with it (``PlacementRequest.reason``), so the
Scheduler tells its owner a reason only if it now differs, or places the instance if
capacity appeared meanwhile. Nothing stale can stick: at worst a reason is saved a
second time, as it always was.

Only a shape that waits is worth the question: a shape the Scheduler last said would
be placed is not asked about again for :data:`PLACEABLE_FOR` seconds, so creates that
nodes take (most of them) do not wait for the Scheduler's turn before their commit.

Who waits on whom: the manager already sends down to the Scheduler, which never waits
on it, so this ask adds no cycle. It is bounded (:data:`FORESEE_TIMEOUT`): a Scheduler
too busy to answer at once costs a create that much at most, and the group is then
stored as before, without reasons (a 201 never waits on placement).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence

import trio

from symphony.actors import ActorCrashed, ActorRef, ActorStopped, AskTimeout
from symphony.spec import DeploymentSpec, secret_refs

from ..placement import PendingInstance
from .instances import placement_needs, runs_from_the_start
from .messages import ForeseeReasons
from .roles import pending_instance
from .secret_delivery import SECRETS_PROTOCOL

log = logging.getLogger("symphony.conductor.deployments")

#: Seconds a group of creates waits at most for the Scheduler's foreseen reasons. It
#: answers in well under a millisecond unless busy with something big (a storm of
#: nodes coming back); then the group is stored without them rather than wait.
FORESEE_TIMEOUT = 0.05

#: Seconds a shape the Scheduler last said would be placed is not asked about again.
#: Creates that nodes take (the usual case) would otherwise each wait for the Scheduler's
#: turn before their commit, behind the placing of the group before them: a burst of
#: 100 on one node took 0.23 -> 0.32 s. A shape that stopped fitting meanwhile is
#: stored "waiting for a node" and told its reason after the commit, as before.
PLACEABLE_FOR = 1.0

#: Shapes remembered as placeable at most (a bound on what varied specs could grow).
MAX_REMEMBERED = 1024

#: Foreseen reasons by deployment name, for each of its first instances (a deployment
#: missing would be placed).
Foreseen = Mapping[str, str]

#: A shape's key: what placing one of its instances depends on.
ShapeKey = tuple[object, ...]


def first_shapes(
    specs: Sequence[DeploymentSpec],
) -> tuple[dict[ShapeKey, PendingInstance], dict[str, ShapeKey]]:
    """What placing the first instances of ``specs`` asks for, once per shape (a group's
    creates mostly share one; each shape is named by its index), by key, and the key of
    each deployment's shape, by name. A deployment with no first instances, or an
    experiment's process (placed as a gang, once all of them asked), is left out."""
    shapes: dict[ShapeKey, PendingInstance] = {}
    of: dict[str, ShapeKey] = {}
    for spec in specs:
        if not runs_from_the_start(spec) or spec.experiment is not None or spec.replicas == 0:
            continue
        oldest = SECRETS_PROTOCOL if secret_refs(spec) else 1
        requests = tuple(sorted(spec.capacity_requests.items()))
        key = (spec.node_group, spec.kind, requests, oldest, placement_needs(spec))
        if key not in shapes:
            name = str(len(shapes))
            shapes[key] = pending_instance(spec, spec.name, name, frozenset(), oldest)
        of[spec.name] = key
    return shapes, of


class Foresight:
    """The Deployments manager's questions to the Scheduler about new groups, and what
    it remembers of the answers (touched only by the manager's handler)."""

    def __init__(self) -> None:
        #: Until when each shape is taken to be placeable (``trio.current_time()``).
        self._placeable_until: dict[ShapeKey, float] = {}

    async def foresee(self, scheduler: ActorRef, specs: Sequence[DeploymentSpec]) -> Foreseen:
        """Why the first instances of ``specs`` would wait now, by deployment name
        (empty: the Scheduler did not answer in time, or each of them would be placed).
        Shapes placed lately are not asked about (:data:`PLACEABLE_FOR`)."""
        shapes, of = first_shapes(specs)
        now = trio.current_time()
        asked = {k: p for k, p in shapes.items() if self._placeable_until.get(k, -1.0) <= now}
        if not asked:
            return {}
        try:
            reasons: dict[str, str] = await scheduler.ask(
                ForeseeReasons(tuple(asked.values())), timeout=FORESEE_TIMEOUT
            )
        except (AskTimeout, ActorStopped):
            return {}
        except ActorCrashed:  # a hint is not worth failing creates for; the crash is logged
            log.warning("the Scheduler crashed foreseeing reasons; storing without them")
            return {}
        until = trio.current_time() + PLACEABLE_FOR
        by_key: dict[ShapeKey, str] = {}
        for key, shape in asked.items():
            if shape.instance_id in reasons:
                by_key[key] = reasons[shape.instance_id]
                self._placeable_until.pop(key, None)
            else:
                self._placeable_until[key] = until
        if len(self._placeable_until) > MAX_REMEMBERED:  # many one-off shapes: start over
            self._placeable_until.clear()
        return {name: by_key[key] for name, key in of.items() if key in by_key}
