"""Whether a deployment just created could run on any node there is: the warning
``symphony deploy`` prints at once, instead of leaving ``symphony ps`` to say it later.

    $ symphony deploy -f job.yaml
    deployment web created (d_8c1f..., replicas 2)
    symphony: warning: web cannot be placed: no ready node in group local has capacity
    class cpus; did you mean cpu? (it waits until a node that can takes it)

The words are the Scheduler's own pending reasons
(:func:`symphony.conductor.placement.never_placeable`), asked of the nodes as
``GET /nodes`` lists them, idle: a deployment that only waits for room says nothing.
Not an error: a node that fits may join later, and the deployment waits for it.

A node is judged by the protocol version it speaks (a job with sources or secrets needs
4), as the Scheduler judges it. An experiment (``symphony launch``) is placed as one
gang, each process group on one node, its processes competing for room: it is warned
about when the Scheduler's gang planner could not place it on the listed nodes even
were they idle (:func:`symphony.conductor.placement.never_placeable_gang`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from symphony.conductor.placement import NodeView
    from symphony.spec import DeploymentSpec

#: The protocol versions that added secrets and the relay, as the Scheduler asks them
#: (``symphony.wire.version``'s; importing the wire package here would cost every
#: command ~0.2 s at its start).
SECRETS_PROTOCOL = 4
RELAY_PROTOCOL = 5
#: The protocol version a node is taken to speak when the listing does not say (a
#: Conductor older than ``protocol_version`` in ``GET /nodes``): new enough for sources
#: and secrets, as every node is since they came.
ASSUMED_PROTOCOL = SECRETS_PROTOCOL


def never_placeable_text(
    deployment: Mapping[str, Any], nodes: Iterable[Mapping[str, Any]]
) -> str | None:
    """Why no listed node could ever take an instance of ``deployment`` (as the API
    answers it, with its ``spec``), or ``None`` when one could or nothing is asked
    (no replicas, stopped, an experiment's process: see
    :func:`experiment_never_placeable_text`). Pure, for tests."""
    from symphony.conductor.placement import never_placeable

    spec = deployment.get("spec")
    if not isinstance(spec, Mapping) or spec.get("experiment") is not None:
        return None  # an experiment's gang places its own way
    if not spec.get("replicas", 1) or spec.get("desired_state") == "stopped":
        return None
    listed = list(nodes)
    views = _views(listed)
    group, requests, needs = spec.get("node_group"), _requests(spec), _needs(spec)
    reason = never_placeable(views, group, requests, needs)
    oldest = _min_protocol(spec)
    if reason is None and oldest > 1:
        # The Scheduler's words (placement's unplaced_reason) for a job with secrets.
        new = [v for v, n in zip(views, listed, strict=True) if _protocol(n) >= oldest]
        if never_placeable(new, group, requests, needs) is not None:
            return (
                f"needs a node of protocol version {oldest} or newer (it uses secrets); "
                "the nodes that fit are older: upgrade them"
            )
    return reason


def experiment_never_placeable_text(
    experiment: Mapping[str, Any], nodes: Iterable[Mapping[str, Any]]
) -> str | None:
    """Why no set of the listed nodes could ever take ``experiment`` (its spec, as
    submitted), in the Scheduler's words: its processes are placed as one gang, each
    process group on one node, so they compete for room. ``None`` when the nodes, idle,
    could take it all, or it is launched stopped. Pure, for tests."""
    from symphony.spec import SpecError, parse_experiment

    try:
        spec, processes = parse_experiment(experiment)
    except SpecError:
        return None  # the Conductor says what is wrong with it
    if spec.desired_state == "stopped":
        return None
    return _gang_text(processes, nodes)


def processes_never_placeable_text(
    deployments: Iterable[Mapping[str, Any]], nodes: Iterable[Mapping[str, Any]]
) -> str | None:
    """Why no set of the listed nodes could take these processes of experiments (their
    deployments, as the API answers them) were they placed again, as the Scheduler
    places them: each experiment's processes as a gang, a process group on one node
    (``symphony drain`` asks this of the processes on the node it drains). ``None``
    when the nodes, idle, could take them. Pure, for tests."""
    from symphony.spec import SpecError, parse_stored_spec

    processes = []
    for deployment in deployments:
        try:
            processes.append(parse_stored_spec(deployment.get("spec")))
        except SpecError:
            continue  # the Conductor accepted it: a newer field this client does not know
    listed = list(nodes)
    for experiment in sorted({p.experiment.name for p in processes if p.experiment}):
        gang = [p for p in processes if p.experiment and p.experiment.name == experiment]
        if (reason := _gang_text(gang, listed)) is not None:
            return reason
    return None


def _gang_text(
    processes: Iterable[DeploymentSpec], nodes: Iterable[Mapping[str, Any]]
) -> str | None:
    """The gang planner's reason why no set of ``nodes`` (idle) could take ``processes``."""
    from symphony.conductor.placement import PendingInstance, never_placeable_gang

    members = []
    for process in processes:
        data = process.to_dict()
        role = process.experiment
        assert role is not None
        members.append(
            PendingInstance(
                process.name,
                process.name,
                process.node_group,
                _requests(data),
                strategy=process.placement.strategy,
                gang=role.name,
                gang_group=role.gang_group,
                needs=_needs(data),
                min_protocol=max(_min_protocol(data), _relay_protocol(data)),
            )
        )
    listed = list(nodes)
    protocols = {str(n.get("node_id")): _protocol(n) for n in listed}
    return never_placeable_gang(_views(listed), members, protocols)


def _views(nodes: Iterable[Mapping[str, Any]]) -> list[NodeView]:
    """The listed nodes as the Scheduler sees them: groups, and as tags what their
    protocol version and environments let them run."""
    from symphony.conductor.placement import NodeView, node_tags, runtime_totals

    return [
        NodeView(
            str(n.get("node_id")),
            frozenset(n.get("groups") or ()).union(node_tags(_protocol(n), n.get("envs") or ())),
            n.get("state") == "ready",
            runtime_totals(n.get("capacities_total") or {}, n.get("container_runtimes") or ()),
            draining=bool(n.get("draining")),
        )
        for n in nodes
    ]


def _protocol(node: Mapping[str, Any]) -> int:
    version = node.get("protocol_version")
    if isinstance(version, int) and not isinstance(version, bool):
        return version
    return ASSUMED_PROTOCOL


def _requests(spec: Mapping[str, Any]) -> dict[str, int]:
    from symphony.conductor.placement import runtime_requests

    kind = str(spec.get("kind") or "exec")
    return runtime_requests(kind, dict(spec.get("capacity_requests") or {}))


def _config(spec: Mapping[str, Any]) -> Mapping[str, Any]:
    config = spec.get("config")
    return config if isinstance(config, Mapping) else {}


def _needs(spec: Mapping[str, Any]) -> frozenset[str]:
    """What a node must have besides capacity, as the Conductor's placement_needs says:
    sources (an archive for ``exec``, a git checkout) and a named environment."""
    from symphony.conductor.placement import job_needs

    config = _config(spec)
    env = config.get("env_name")
    return job_needs(
        image=config.get("image") is not None,
        git=config.get("git") is not None,
        kind=str(spec.get("kind") or "exec"),
        env_name=env if isinstance(env, str) else None,
    )


def _min_protocol(spec: Mapping[str, Any]) -> int:
    """The protocol a node needs for the spec's secrets (``{"secret": NAME}`` values)."""
    env = _config(spec).get("env")
    uses = isinstance(env, Mapping) and any(isinstance(v, Mapping) for v in env.values())
    return SECRETS_PROTOCOL if uses else 1


def _relay_protocol(spec: Mapping[str, Any]) -> int:
    role = spec.get("experiment")
    relay = isinstance(role, Mapping) and role.get("network") == "relay"
    return RELAY_PROTOCOL if relay else 1


def listed_nodes(api: Any) -> list[dict[str, Any]] | None:
    """The nodes as ``GET /nodes`` lists them, or ``None`` when that fails (no error
    here: the deployment is still created, and ``symphony ps`` says why it waits).

    Asked before the create, so that a ``--wait`` starts to look right after it (a job
    that ends at once must not be seen running in between)."""
    from symphony.conductor import placement  # noqa: F401  (imported now, not after)

    from ._remote import call

    try:
        nodes: list[dict[str, Any]] = call(api, api.nodes)
    except Exception:
        return None
    return nodes


def warn_if_experiment_never_placeable(
    nodes: list[dict[str, Any]] | None, experiment: Mapping[str, Any]
) -> bool:
    """Print one warning line on stderr when no set of ``nodes`` could take
    ``experiment`` (its spec as submitted); returns whether it did."""
    import sys

    reason = None if nodes is None else experiment_never_placeable_text(experiment, nodes)
    if reason is None:
        return False
    name = experiment.get("name")
    reason = reason.removeprefix(f"experiment {name}: ")
    print(
        f"symphony: warning: experiment {name} cannot be placed: {reason} "
        "(it waits until nodes that can take it all join)",
        file=sys.stderr,
        flush=True,
    )
    return True


def warn_if_never_placeable(
    nodes: list[dict[str, Any]] | None, created: Iterable[Mapping[str, Any]]
) -> list[str]:
    """Print one warning line on stderr for each of ``created`` that none of ``nodes``
    could take; returns the names warned about."""
    import sys

    if nodes is None:
        return []
    warned = []
    for deployment in created:
        reason = never_placeable_text(deployment, nodes)
        if reason is None:
            continue
        name = deployment.get("name") or deployment.get("id")
        print(
            f"symphony: warning: {name} cannot be placed: {reason} "
            "(it waits until a node that can takes it)",
            file=sys.stderr,
            flush=True,
        )
        warned.append(str(name))
    return warned
