"""What "settled" means: the API and the real processes both match the model.

:func:`differences` is a pure function of one observation, so the same rules judge a
convergence poll, the final check of a run and a unit test. Each difference carries the
invariant it would break if it were still there at the deadline.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from .model import NAME_ENV, VERSION_ENV, Model
from .observe import JobProcess

Difference = tuple[str, str]  # (invariant, what is wrong)


def differences(
    model: Model,
    listed: dict[str, dict[str, Any]],
    processes: Iterable[JobProcess],
    nodes: dict[str, dict[str, Any]],
    node_ids: Iterable[str],
) -> list[Difference]:
    """Everything that differs from the model's desired state (empty: settled)."""
    found: list[Difference] = []
    for node_id in node_ids:
        state = nodes.get(node_id, {}).get("state")
        if state != "ready":
            found.append(("converge", f"node {node_id} is {state or 'not listed'}"))
    by_name: dict[str, list[JobProcess]] = defaultdict(list)
    for proc in processes:
        by_name[proc.name].append(proc)
    for name, deployment in model.deployments.items():
        procs = by_name.get(name, [])
        entry = listed.get(name)
        if deployment.deleted_at is not None:
            if entry is not None:
                found.append(("durable_writes", f"{name} was deleted but is still listed"))
            if procs:
                found.append(("deleted_gone", f"{name} deleted; pids {_pids(procs)} still run"))
            continue
        if entry is None:
            found.append(("durable_writes", f"{name} was created (201) but is not listed"))
            continue
        found += _spec_differences(
            name, deployment.replicas, deployment.running, str(deployment.version), entry["spec"]
        )
        if not deployment.running:
            if procs:
                found.append(("converge", f"{name} is stopped; pids {_pids(procs)} still run"))
            continue
        found += _replica_differences(
            name, deployment.replicas, str(deployment.version), procs, entry["instances"]
        )
    known = set(model.deployments)
    for name in listed:
        if name.startswith("chaos-") and name not in known:
            found.append(("durable_writes", f"{name} is listed but was never acknowledged"))
    return found


def _spec_differences(
    name: str, replicas: int, running: bool, version: str, spec: dict[str, Any]
) -> list[Difference]:
    found = []
    if spec.get("replicas") != replicas:
        found.append(("durable_writes", f"{name}: replicas {spec.get('replicas')} != {replicas}"))
    wanted = "running" if running else "stopped"
    if spec.get("desired_state") != wanted:
        found.append(("durable_writes", f"{name}: desired_state {spec.get('desired_state')}"))
    env = spec.get("config", {}).get("env", {})
    if env.get(VERSION_ENV) != version or env.get(NAME_ENV) != name:
        found.append(
            ("durable_writes", f"{name}: spec version {env.get(VERSION_ENV)} != {version}")
        )
    return found


def _replica_differences(
    name: str,
    replicas: int,
    version: str,
    procs: list[JobProcess],
    instances: list[dict[str, Any]],
) -> list[Difference]:
    found: list[Difference] = []
    running = [i for i in instances if i["state"] == "running"]
    for replica in range(replicas):
        mine = [p for p in procs if p.replica == replica]
        listed = [i for i in running if i["replica"] == replica]
        if len(mine) > 1:
            found.append(
                (
                    "one_per_replica",
                    f"{name}[{replica}] has {len(mine)} processes: "
                    + ", ".join(f"pid {p.pid} on {p.node}" for p in mine),
                )
            )
        elif not mine:
            found.append(("converge", f"{name}[{replica}] has no process"))
        elif mine[0].version != version:
            found.append(
                ("converge", f"{name}[{replica}] runs spec {mine[0].version}, not {version}")
            )
        if len(listed) != 1:
            found.append(
                ("converge", f"{name}[{replica}]: {len(listed)} instances running in the API")
            )
        elif len(mine) == 1 and listed[0]["pid"] != mine[0].pid:
            found.append(
                ("converge", f"{name}[{replica}]: API pid {listed[0]['pid']} != real {mine[0].pid}")
            )
    extra = [p for p in procs if not 0 <= p.replica < replicas]
    if extra:
        found.append(("converge", f"{name}: scaled to {replicas}, pids {_pids(extra)} remain"))
    return found


def _pids(procs: Iterable[JobProcess]) -> str:
    return ",".join(f"{p.pid}@{p.node}" for p in procs)
