"""Protocol versions and their negotiation.

Each end speaks a contiguous range of protocol versions. The node announces its
range in :class:`~symphony.wire.messages.Hello`; the conductor picks the newest
version both speak and answers it in
:class:`~symphony.wire.messages.HelloAccepted` (or refuses with
:class:`~symphony.wire.messages.HelloRejected` carrying the
:class:`~symphony.wire.errors.VersionMismatch` text). Bump
:data:`PROTOCOL_VERSION` when the meaning of an existing field or message
changes; adding an optional field does not need a bump (old readers ignore
unknown keys).
"""

from __future__ import annotations

from .errors import VersionMismatch

__all__ = [
    "LOG_TIMES_PROTOCOL_VERSION",
    "MIN_PROTOCOL_VERSION",
    "NODE_MIN_PROTOCOL_VERSION",
    "PROTOCOL_VERSION",
    "RELAY_PROTOCOL_VERSION",
    "SECRETS_PROTOCOL_VERSION",
    "negotiate_version",
]

#: The newest protocol version this code speaks. 2 added ``Hello.incarnation`` and
#: windowed log streams (``LogRequest.window`` and ``LogCredit``); a conductor sends
#: ``LogCredit`` only to nodes that negotiated 2. 3 made ``StartInstance.spec`` a typed
#: :class:`~symphony.wire.jobspec.JobSpec` with every default filled in by the Conductor
#: (its map is a subset of what older nodes read, so they get the same), added
#: ``Heartbeat.instances`` (each live instance's CPU% and RSS; sent only when 3 was
#: negotiated), ``InstanceStatus.restart_at`` (optional: a version-2 node leaves it out,
#: and the conductor sends nothing new), and the optional ``JoinRequest.groups`` and
#: ``capacities`` of the join exchange with its refusal code ``not_allowed``.
#: 4 added secrets: ``JobConfig.secret_env`` (the variables that hold secrets, by name),
#: ``StartInstance.secrets`` (their values, kept in the node's memory only) and the
#: message ``InstanceSecrets`` (the values again, after the node's agent restarted). A
#: Conductor places a job that uses secrets only on nodes of version 4 or newer, and
#: sends none of this to older nodes.
#: 4 also added the job's sources (``JobConfig.image`` as an archive for ``exec``, ``sha256``,
#: ``git``, ``env_name``) and the node's environments (``Hello.envs``, ``Heartbeat.envs``);
#: the Conductor places a job with a source only on a node of version 4 or newer, and
#: says so while it waits. 4 also added ``Hello.container_runtimes`` and the job kinds
#: ``docker``/``podman`` (with ``JobConfig.image`` as an image reference, ``entrypoint``,
#: and an empty ``command`` for the image's own); a container job goes only to a node
#: that reported its runtime, so older nodes (which report none) never receive one.
#: 4 also added GPU devices: ``StartInstance.gpus`` (how many devices the instance gets; a
#: conductor leaves it out for an older node, which runs the job as before, ``gpu``
#: being a plain count there) and ``InstanceStatus.devices`` (the ones the node gave it),
#: and the optional ``JobSpec.experiment`` (the names an experiment's process binds and
#: exposes, with their fixed ports, which the node checks are free before it starts the
#: process); a version-3 node ignores it (unknown keys are ignored) and starts unchecked.
#: 5 added log times: ``LogRequest.since_ns`` and ``LogRequest.timestamps`` (a node of 5
#: records when each line arrived); a Conductor refuses such a request for an older node
#: (the request ends at once, saying why) and sends it nothing new.
#: 5 also added heartbeat deltas: ``Heartbeat.delta`` (``usage`` then holds only what
#: changed since the link's previous heartbeat; a node sends them only after negotiating
#: 5, and the Conductor still takes full heartbeats from every node, old or new).
#: 5 also added relayed streams: the message ``OpenStream`` (the Conductor asks a node to
#: connect to one of its experiments' ports and hand the connection over on a relay
#: connection of its own, :mod:`symphony.wire.relay`), the relay connections themselves
#: (same node port, same client certificate, :data:`~symphony.wire.relay.MAGIC` instead
#: of a WebSocket upgrade), and ``JobExperiment.connects``/``network`` (which names a
#: process connects to, and whether to tunnel them). A Conductor sends ``OpenStream``
#: only to nodes of version 5 and says, where a visit or forward would need one, that
#: an older node cannot relay; it places ``network: relay`` experiments only on nodes of
#: version 5. A version-4 node ignores the new ``JobExperiment`` fields and connects
#: directly, as before.
PROTOCOL_VERSION = 5
#: The oldest protocol version of a node that relays streams (visit, port-forward,
#: tunnels between nodes).
RELAY_PROTOCOL_VERSION = 5
#: The oldest protocol version of a node that can read its logs by time.
LOG_TIMES_PROTOCOL_VERSION = 5
#: The oldest protocol version of a node that may receive secret values.
SECRETS_PROTOCOL_VERSION = 4
#: The oldest protocol version the Conductor still accepts from a node.
MIN_PROTOCOL_VERSION = 1
#: The oldest protocol version a node speaks: a node runs the typed job spec as sent and
#: no longer fills in defaults itself, which a Conductor older than 3 relies on; and a
#: Conductor older than 4 would not say how many GPU devices a job gets, so a job on a
#: node with GPUs would see none. Upgrade the Conductor first, then the nodes.
NODE_MIN_PROTOCOL_VERSION = 4


def negotiate_version(
    peer_max: int,
    peer_min: int | None = None,
    *,
    ours: tuple[int, int] = (MIN_PROTOCOL_VERSION, PROTOCOL_VERSION),
) -> int:
    """Return the newest version in both ranges, or raise :class:`VersionMismatch`.

    ``peer_min`` defaults to ``peer_max`` (a peer that speaks one version).

    >>> negotiate_version(3, 1, ours=(1, 2))
    2
    """
    lo, hi = ours
    if peer_min is None:
        peer_min = peer_max
    if peer_min > peer_max:
        raise VersionMismatch(f"peer's version range {peer_min}..{peer_max} is empty")
    chosen = min(hi, peer_max)
    if chosen < max(lo, peer_min):
        older = "the peer" if peer_max < lo else "this side"
        raise VersionMismatch(
            f"no common protocol version: peer speaks {peer_min}..{peer_max}, "
            f"we speak {lo}..{hi}; upgrade {older}"
        )
    return chosen
