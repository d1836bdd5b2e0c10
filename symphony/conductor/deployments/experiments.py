"""Experiment operations of the Deployments actor: create, change, delete them whole.

An experiment's processes are deployments (``<experiment>.<process>``), each with its
own :class:`~.supervisor.DeploymentSupervisor`; this mixin only creates, changes and
deletes them together. Who waits on whom is the Deployments actor's graph (see
:mod:`.manager`): the API asks; this tells or asks the process supervisors below it and
answers a delete from a background task, since the stops' confirmations arrive
through the actor's own mailbox.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from symphony.actors import Reply
from symphony.spec import DeploymentSpec, SpecError

from ..store import ExperimentRecord, NameConflict, NotFound
from .messages import UpdateDeployment
from .teardown import Teardowns, claim_teardowns, tear_down

if TYPE_CHECKING:
    from symphony.spec import ExperimentSpec

    from .manager import Deployments

log = logging.getLogger("symphony.conductor.experiments")


@dataclass(frozen=True, slots=True)
class CreateExperiment:
    """Store an experiment with its process deployments and start them
    (reply: ExperimentRecord, or Failed)."""

    spec: ExperimentSpec
    processes: tuple[DeploymentSpec, ...]


@dataclass(frozen=True, slots=True)
class ChangeExperiment:
    """Set the desired state of a whole experiment (reply: ExperimentRecord, or Failed)."""

    name: str
    desired_state: Literal["running", "stopped"]


@dataclass(frozen=True, slots=True)
class DeleteExperiment:
    """Stop every process, then delete them and the experiment (reply: None, or Failed)."""

    name: str


EXPERIMENT_MESSAGES = (CreateExperiment, ChangeExperiment, DeleteExperiment)


async def handle(manager: Deployments, message: Any) -> Any:
    """Answer one of :data:`EXPERIMENT_MESSAGES` for the Deployments actor ``manager``."""
    from .manager import Failed

    if isinstance(message, CreateExperiment):
        try:
            for process in message.processes:  # a referenced secret must exist (a 422)
                _check_secrets(manager, process)
            record, deployments = manager.store.create_experiment(message.spec, message.processes)
        except (NameConflict, SpecError) as error:
            return Failed(error)
        for deployment in deployments:
            manager.events.add(
                deployment, "created", f"process of experiment {record.name} created"
            )
        for deployment in deployments:
            await manager.start_child(manager._child_spec(deployment.id))
        return record
    found = manager.store.get_experiment(message.name)
    if found is None:
        return Failed(NotFound(f"no experiment {message.name!r}"))
    if isinstance(message, ChangeExperiment):
        spec = found.spec.model_copy(update={"desired_state": message.desired_state})
        updated = manager.store.update_experiment(spec)
        patch = {"desired_state": message.desired_state}
        for deployment in manager.store.experiment_deployments(found.name):
            result = await manager._update(UpdateDeployment(deployment.id, patch))
            if isinstance(result, Failed):
                return result
        return updated
    assert isinstance(message, DeleteExperiment)
    # Marked now, before the next message: a change queued behind is refused.
    teardowns = claim_teardowns(manager, manager.store.experiment_deployments(found.name))
    manager.nursery.start_soon(
        functools.partial(teardown_experiment, manager),
        found,
        teardowns,
        manager.defer_reply(),
    )
    return None


def _check_secrets(manager: Deployments, process: DeploymentSpec) -> None:
    """The manager's check, with each path naming the process (``rl.learner: config...``)."""
    try:
        manager._check_secrets(process)
    except SpecError as error:
        raise SpecError(
            [{**e, "path": f"{process.name}: {e['path']}"} for e in error.errors]
        ) from None


async def teardown_experiment(
    manager: Deployments, record: ExperimentRecord, teardowns: Teardowns, reply: Reply
) -> None:
    """Stop every process (in parallel), delete their deployments, then the experiment."""
    await tear_down(manager, teardowns)
    manager.store.delete_experiment(record.name)
    log.info("experiment %s deleted", record.name)
    reply.send(None)


__all__ = ["ChangeExperiment", "CreateExperiment", "DeleteExperiment", "handle"]
