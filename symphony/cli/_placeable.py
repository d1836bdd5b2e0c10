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
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any


def never_placeable_text(
    deployment: Mapping[str, Any], nodes: Iterable[Mapping[str, Any]]
) -> str | None:
    """Why no listed node could ever take an instance of ``deployment`` (as the API
    answers it, with its ``spec``), or ``None`` when one could or nothing is asked
    (no replicas, stopped, an experiment's process). Pure, for tests."""
    from symphony.conductor.placement import (
        NodeView,
        job_needs,
        never_placeable,
        runtime_requests,
        runtime_totals,
    )

    spec = deployment.get("spec")
    if not isinstance(spec, Mapping) or spec.get("experiment") is not None:
        return None  # an experiment's gang places its own way
    if not spec.get("replicas", 1) or spec.get("desired_state") == "stopped":
        return None
    config = spec.get("config") or {}
    env = config.get("env_name") if isinstance(config, Mapping) else None
    env = env if isinstance(env, str) else None
    requests = runtime_requests(
        str(spec.get("kind") or "exec"), dict(spec.get("capacity_requests") or {})
    )
    views = [
        NodeView(
            str(n.get("node_id")),
            # The listing has no protocol version: a node is taken to know sources (every
            # node since they came), so only a named environment it lacks is reported.
            frozenset(n.get("groups") or ()).union(
                job_needs(image=True, env_name=None),
                *(job_needs(image=True, env_name=e) for e in n.get("envs") or ()),
            ),
            n.get("state") == "ready",
            runtime_totals(n.get("capacities_total") or {}, n.get("container_runtimes") or ()),
            draining=bool(n.get("draining")),
        )
        for n in nodes
    ]
    needs = job_needs(image=False, env_name=env)
    return never_placeable(views, spec.get("node_group"), requests, needs)


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
