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

#: Foreseen reasons by deployment name: one per first instance, by replica (None: it
#: would be placed).
Foreseen = Mapping[str, Sequence[str | None]]


def first_shapes(specs: Sequence[DeploymentSpec]) -> list[PendingInstance]:
    """The placement requests of the first instances of ``specs`` (named
    ``NAME/REPLICA``), in the order their supervisors will send them; an experiment's
    processes are left out (they are placed as a gang, once all of them asked)."""
    pending = []
    for spec in specs:
        if spec.desired_state != "running" or spec.schedule is not None:
            continue  # no first instances (see ``first_instances``)
        if spec.experiment is not None:
            continue
        oldest = SECRETS_PROTOCOL if secret_refs(spec) else 1
        for replica in range(spec.replicas):
            name = f"{spec.name}/{replica}"
            pending.append(pending_instance(spec, spec.name, name, frozenset(), oldest))
    return pending


async def foresee(manager: Deployments, specs: Sequence[DeploymentSpec]) -> Foreseen:
    """Why each first instance of ``specs`` would wait now, by deployment name (empty:
    the Scheduler did not answer in time, or every one of them would be placed)."""
    pending = first_shapes(specs)
    if not pending:
        return {}
    try:
        reasons = await manager.scheduler.ask(
            ForeseeReasons(tuple(pending)), timeout=FORESEE_TIMEOUT
        )
    except (AskTimeout, ActorStopped):
        return {}
    except ActorCrashed:  # a hint is not worth failing creates for; the crash is logged
        log.warning("the Scheduler crashed foreseeing reasons; storing without them")
        return {}
    foreseen: dict[str, list[str | None]] = {}
    for spec in specs:
        if spec.name in foreseen:
            continue
        wait = [reasons.get(f"{spec.name}/{r}") for r in range(spec.replicas)]
        if any(wait):
            foreseen[spec.name] = wait
    return foreseen
