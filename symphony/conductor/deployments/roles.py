"""What a deployment's requests to the Scheduler say, including its part in an experiment.

A process of an experiment is a deployment whose spec has an ``experiment`` role; its
instances are gang members (:mod:`.gangs`): the Scheduler places them with the rest of
the experiment, and its process group on one node.
"""

from __future__ import annotations

from collections.abc import Mapping

from symphony.wire import StartInstance

from ..placement import PendingInstance
from ..store import DeploymentRecord
from .messages import AdoptReservation, PlacementRequest


def placement_request(
    record: DeploymentRecord, instance_id: str, avoid: frozenset[str], start: StartInstance
) -> PlacementRequest:
    """The request to place one instance of ``record`` (a gang member if it has a role)."""
    spec = record.spec
    role = spec.experiment
    pending = PendingInstance(
        instance_id=instance_id,
        deployment_id=record.id,
        node_group=spec.node_group,
        capacity_requests=dict(spec.capacity_requests),
        strategy=spec.placement.strategy,
        avoid_nodes=avoid,
        gang=role.name if role is not None else None,
        gang_group=role.gang_group if role is not None else None,
    )
    return PlacementRequest(pending, start, gang_size=role.size if role is not None else 1)


def adoption(
    record: DeploymentRecord, instance_id: str, node_id: str, amounts: Mapping[str, int]
) -> AdoptReservation:
    """Re-reserve an instance that already runs on ``node_id`` (with its gang, if any)."""
    role = record.spec.experiment
    gang = role.name if role is not None else None
    return AdoptReservation(instance_id, node_id, amounts, gang=gang, deployment_id=record.id)
