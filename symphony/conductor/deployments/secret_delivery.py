"""Where secret values leave the Conductor: into start messages, and again after a
node's agent restarted (:class:`~symphony.wire.InstanceSecrets`).

Values are resolved (opened from the store) at the moment a message is built, so a
secret set again reaches the next start: ``symphony restart NAME`` picks it up, while
running instances keep what they were started with.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from typing import TYPE_CHECKING

from symphony.spec import secret_refs
from symphony.wire import InstanceSecrets, InstanceStatus
from symphony.wire.states import is_live
from symphony.wire.version import RELAY_PROTOCOL_VERSION, SECRETS_PROTOCOL_VERSION

from ..secrets import SecretKeyError, UnknownSecret
from ..store import InstanceRecord
from .messages import PlacementRequest

if TYPE_CHECKING:
    from symphony.spec import DeploymentSpec

    from ..secrets import SecretVault

#: The oldest protocol version of a node that can receive secrets: a job that uses
#: them is placed only on such nodes (an older one would neither keep nor mask them).
SECRETS_PROTOCOL = SECRETS_PROTOCOL_VERSION
#: What stops a start for lack of its secrets (the instance fails with the reason).
SECRET_ERRORS = (UnknownSecret, SecretKeyError)


def needs_protocol(request: PlacementRequest, version: int) -> PlacementRequest:
    """``request`` placed only on nodes of protocol ``version`` or newer (1: any)."""
    if version <= 1:
        return request
    return replace(request, pending=replace(request.pending, min_protocol=version))


def relay_protocol(spec: DeploymentSpec) -> int:
    """The protocol a process of a ``network: relay`` experiment needs of its node (an
    older node cannot tunnel, and would connect directly where that cannot work)."""
    role = spec.experiment
    return RELAY_PROTOCOL_VERSION if role is not None and role.network == "relay" else 1


def secret_values(vault: SecretVault | None, spec: DeploymentSpec) -> dict[str, str] | None:
    """The values of the spec's secret variables (None: it references no secret).
    Raises one of :data:`SECRET_ERRORS`."""
    refs = secret_refs(spec)
    if not refs:
        return None
    if vault is None:
        raise UnknownSecret(refs.values())
    return vault.resolve(refs)


def redeliveries(
    vault: SecretVault | None,
    spec: DeploymentSpec,
    updates: Iterable[InstanceStatus],
    instances: Mapping[str, InstanceRecord],
) -> list[InstanceSecrets]:
    """After a hello: the values for every live instance of ours the node reports (a
    node whose agent restarted lost them; one that holds them keeps its own copy)."""
    ids = [
        u.instance_id
        for u in updates
        if (inst := instances.get(u.instance_id)) is not None and is_live(inst.state)
    ]
    if not ids:
        return []
    try:
        values = secret_values(vault, spec)
    except SECRET_ERRORS:
        return []  # deleted meanwhile: the node restarts nothing without them
    if not values:
        return []
    return [InstanceSecrets(instance_id=i, secrets=values) for i in ids]
