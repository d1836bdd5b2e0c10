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

Who waits on whom: the manager already sends down to the Scheduler, which never waits
on it, so this ask adds no cycle. It is bounded (:data:`FORESEE_TIMEOUT`): a Scheduler
too busy to answer at once costs a create that much at most, and the group is then
stored as before, without reasons (a 201 never waits on placement).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from symphony.actors import ActorCrashed, ActorStopped, AskTimeout
from symphony.spec import DeploymentSpec, secret_refs

from ..placement import PendingInstance
from .instances import placement_needs
from .messages import ForeseeReasons
from .roles import pending_instance
from .secret_delivery import SECRETS_PROTOCOL

if TYPE_CHECKING:
    from .manager import Deployments

log = logging.getLogger("symphony.conductor.deployments")

#: Seconds a group of creates waits at most for the Scheduler's foreseen reasons. It
#: answers in well under a millisecond unless busy with something big (a storm of
#: nodes coming back); then the group is stored without them rather than wait.
FORESEE_TIMEOUT = 0.05

#: Foreseen reasons by deployment name, for each of its first instances (a deployment
#: missing would be placed).
Foreseen = Mapping[str, str]


def first_shapes(specs: Sequence[DeploymentSpec]) -> tuple[list[PendingInstance], dict[str, str]]:
    """What placing the first instances of ``specs`` asks for, once per shape (a group's
    creates mostly share one; each shape is named by its index), and the shape of each
    deployment's, by name. A deployment with no first instances, or an experiment's
    process (placed as a gang, once all of them asked), is left out."""
    shapes: dict[tuple[object, ...], PendingInstance] = {}
    of: dict[str, str] = {}
    for spec in specs:
        if spec.desired_state != "running" or spec.schedule is not None:
            continue  # no first instances (see ``first_instances``)
        if spec.experiment is not None or spec.replicas == 0:
            continue
        oldest = SECRETS_PROTOCOL if secret_refs(spec) else 1
        requests = tuple(sorted(spec.capacity_requests.items()))
        key = (spec.node_group, spec.kind, requests, oldest, placement_needs(spec))
        shape = shapes.get(key)
        if shape is None:
            name = str(len(shapes))
            shape = shapes[key] = pending_instance(spec, spec.name, name, frozenset(), oldest)
        of[spec.name] = shape.instance_id
    return list(shapes.values()), of


async def foresee(manager: Deployments, specs: Sequence[DeploymentSpec]) -> Foreseen:
    """Why the first instances of ``specs`` would wait now, by deployment name (empty:
    the Scheduler did not answer in time, or each of them would be placed)."""
    shapes, of = first_shapes(specs)
    if not shapes:
        return {}
    try:
        reasons: dict[str, str] = await manager.scheduler.ask(
            ForeseeReasons(tuple(shapes)), timeout=FORESEE_TIMEOUT
        )
    except (AskTimeout, ActorStopped):
        return {}
    except ActorCrashed:  # a hint is not worth failing creates for; the crash is logged
        log.warning("the Scheduler crashed foreseeing reasons; storing without them")
        return {}
    return {name: reasons[shape] for name, shape in of.items() if shape in reasons}
