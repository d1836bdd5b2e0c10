"""What a deployment's requests to the Scheduler say, including its part in an experiment.

A process of an experiment is a deployment whose spec has an ``experiment`` role; its
instances are gang members (:mod:`.gangs`): the Scheduler places them with the rest of
the experiment, and its process group on one node.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from symphony.wire import StartInstance
from symphony.wire.states import InstanceState as S
from symphony.wire.states import is_live

from ..placement import PendingInstance, runtime_requests
from ..store import DeploymentRecord, InstanceRecord
from .instances import placement_needs, recency
from .messages import AdoptReservation, LastPlace, PlacementRequest

if TYPE_CHECKING:
    from symphony.spec import DeploymentSpec


def placement_request(
    record: DeploymentRecord,
    inst: InstanceRecord,
    avoid: frozenset[str],
    start: StartInstance,
) -> PlacementRequest:
    """The request to place ``inst`` of ``record`` (a gang member if it has a role),
    with the reason stored for it."""
    spec = record.spec
    role = spec.experiment
    pending = pending_instance(spec, record.id, inst.id, avoid)
    size = role.size if role is not None else 1
    return PlacementRequest(pending, start, gang_size=size, role=role, reason=inst.reason)


def pending_instance(
    spec: DeploymentSpec,
    deployment_id: str,
    instance_id: str,
    avoid: frozenset[str],
    min_protocol: int = 1,
) -> PendingInstance:
    """What the placement core is asked to place for one instance of ``spec``."""
    role = spec.experiment
    return PendingInstance(
        instance_id=instance_id,
        deployment_id=deployment_id,
        node_group=spec.node_group,
        capacity_requests=runtime_requests(spec.kind, spec.capacity_requests),
        strategy=spec.placement.strategy,
        avoid_nodes=avoid,
        gang=role.name if role is not None else None,
        gang_group=role.gang_group if role is not None else None,
        needs=placement_needs(spec),
        min_protocol=min_protocol,
    )


def adoption(
    record: DeploymentRecord,
    instance_id: str,
    node_id: str,
    amounts: Mapping[str, int],
    network: Mapping[str, Any] | None = None,
) -> AdoptReservation:
    """Re-reserve an instance that already runs on ``node_id`` (with its gang, its
    ports and its role, if it is an experiment's process)."""
    role = record.spec.experiment
    if role is None:
        return AdoptReservation(instance_id, node_id, amounts)
    ports = dict((network or {}).get("ports") or {})
    return AdoptReservation(
        instance_id, node_id, amounts, role.name, record.id, ports=ports, role=role
    )


def last_place(record: DeploymentRecord, instances: Sequence[InstanceRecord]) -> LastPlace | None:
    """Where the process of ``record`` (an experiment's) last ran: its most recent
    instance given a node, with its ports there. None for a plain deployment, or a
    process never placed.

    Its ports are left out if that instance failed: the node may have refused one of
    them, and a recalled port would be handed out again there.

    It goes back there (``reconnecting``) if that instance was stopped and its
    replacement waits to be placed: a restart to reconnect under way. That also holds
    for any other stop whose replacement was still waiting at the restart (started
    again, a rolling restart): the stored reason cannot tell them apart (the node's
    report of the stop replaces it), and going back to the node it ran on is only a
    preference, harmless for those. A drain's or a lost node's replacement is placed
    off that node whatever it prefers."""
    role = record.spec.experiment
    placed = [i for i in instances if i.node_id is not None]
    if role is None or not placed:
        return None
    latest = max(placed, key=recency)
    assert latest.node_id is not None
    ports = {} if latest.state == S.FAILED else dict((latest.network or {}).get("ports") or {})
    waiting = any(is_live(i.state) and i.node_id is None for i in instances)
    back = latest.state == S.STOPPED and waiting
    return LastPlace(role.name, role.process, latest.node_id, ports, reconnecting=back)


def reconnects(
    instances: Mapping[str, InstanceRecord], ids: Sequence[str]
) -> list[tuple[InstanceRecord, str]]:
    """The stops that restart processes whose peers moved (``reconnect: restart``): each
    stopped instance is replaced, and the replacement starts with the new addresses."""
    out = []
    for instance_id in ids:
        inst = instances.get(instance_id)
        if inst is not None and is_live(inst.state) and inst.state != S.STOPPING:
            out.append((inst, "reconnect: a name it connects to moved (another node or port)"))
    return out
