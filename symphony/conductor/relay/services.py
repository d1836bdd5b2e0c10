"""Where an experiment's service is: the node, the instance and the port that serve it.

Read from the store (the instance records the Deployments keep, with the ports the
Scheduler allocated), so the relay needs no actor of its own to find a service. A
service is a name a process *exposes* or *binds*; only those ports are ever relayed.
"""

from __future__ import annotations

from dataclasses import dataclass

from symphony.errors import SymphonyError
from symphony.pki import SHARED_CLIENT_CN
from symphony.wire.states import InstanceState as S

from ..store import Store

#: Instance states in which a process has (or is about to have) its port.
_SERVING = frozenset({S.ASSIGNED, S.STARTING, S.RUNNING, S.RESTARTING})


class RelayError(SymphonyError):
    """A visit, forward or tunnel cannot reach its service; ``status`` is the HTTP
    status the API answers with (404 no such service, 409 not running, 502 the node
    refused, 503 the node is not connected or cannot relay, 504 no answer)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class Target:
    """A service's place: ``port`` on ``node_id``, held by ``instance_id``."""

    experiment: str
    service: str
    node_id: str
    instance_id: str
    port: int


def find_service(store: Store, experiment: str, service: str) -> Target:
    """Where ``service`` of ``experiment`` runs now; raises :class:`RelayError`."""
    if store.get_experiment(experiment) is None:
        raise RelayError(404, f"no experiment named {experiment!r}")
    names: set[str] = set()
    for deployment in store.experiment_deployments(experiment):
        role = deployment.spec.experiment
        if role is None:
            continue
        names |= {*role.exposes, *role.binds}
        if service not in role.exposes and service not in role.binds:
            continue
        for inst in store.list_instances(deployment_id=deployment.id):
            port = (inst.network.get("ports") or {}).get(service)
            if inst.node_id is not None and inst.state in _SERVING and isinstance(port, int):
                return Target(experiment, service, inst.node_id, inst.id, port)
        raise RelayError(
            409, f"process {role.process} of {experiment}, which serves {service!r}, is not running"
        )
    has = f" (it has {', '.join(sorted(names))})" if names else ""
    what = f"no process of experiment {experiment} exposes or binds {service!r}"
    raise RelayError(404, what + has)


def tunnel_target(store: Store, node_id: str, instance_id: str, name: str) -> tuple[Target, str]:
    """Where a tunnel from ``instance_id`` on ``node_id`` to ``name`` goes, and the node
    it comes from (the instance's: a node with the shared certificate names none).

    Only a process that connects to ``name`` may open one, and only from its own node."""
    inst = store.get_instance(instance_id)
    if inst is None or (inst.node_id != node_id and node_id != SHARED_CLIENT_CN):
        raise RelayError(404, f"no instance {instance_id} of this node ({node_id})")
    deployment = store.get_deployment(inst.deployment_id)
    role = deployment.spec.experiment if deployment is not None else None
    if role is None:
        raise RelayError(404, f"instance {instance_id} is no experiment's process")
    if name not in role.connects:
        raise RelayError(403, f"process {role.process} of {role.name} does not connect to {name!r}")
    return find_service(store, role.name, name), inst.node_id or node_id
