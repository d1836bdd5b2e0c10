"""Placement throughput of the pure scheduler core.

Simulates a cluster of N nodes (three machine types, spread over node groups) and M
single-replica deployments with mixed capacity requests, then measures how many
placements per second ``plan_placements`` makes:

- ``batch``: one plan for all pending instances (a conductor restart, a big rollout);
- ``per-event``: one plan per arriving deployment through a long-lived ``ClusterState``
  (the Scheduler actor's steady state);
- ``per-event rebuild``: the same, but each call builds fresh views from a
  ``CapacityLedger`` and calls ``plan_placements`` (what not to do: O(nodes) per event);
- ``overfull``: demand at twice the capacity, so most instances stay pending with a reason.

Run: ``python benchmarks/placement.py`` (options: --nodes, --deployments, --seed).
Prints a table and writes ``benchmarks/results/placement.json``.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from pathlib import Path

from symphony.conductor.placement import (
    CapacityLedger,
    ClusterState,
    NodeView,
    PendingInstance,
    plan_placements,
)

MACHINE_TYPES = [{"A": 100, "B": 8}, {"A": 200, "B": 16}, {"A": 50}]


def make_nodes(count: int, groups: int, rng: random.Random) -> list[NodeView]:
    nodes = []
    for i in range(count):
        totals = rng.choice(MACHINE_TYPES)
        group = f"g{i % groups}"
        nodes.append(NodeView(f"node-{i:05d}", frozenset({group}), True, totals, {}))
    return nodes


def make_pending(
    count: int, groups: int, rng: random.Random, *, scale: int = 1, strategy: str = "mixed"
) -> list[PendingInstance]:
    pending = []
    for i in range(count):
        requests = {"A": rng.randint(1, 10) * scale}
        if rng.random() < 0.2:
            requests["B"] = 1
        group = None if rng.random() < 0.1 else f"g{rng.randrange(groups)}"
        chosen = strategy if strategy != "mixed" else rng.choice(["spread", "binpack"])
        pending.append(PendingInstance(f"i-{i}", f"d-{i}", group, requests, chosen))
    return pending


def run_batch(nodes: list[NodeView], pending: list[PendingInstance]) -> dict[str, float]:
    start = time.perf_counter()
    plan = plan_placements(nodes, pending)
    elapsed = time.perf_counter() - start
    return {
        "instances": len(pending),
        "placed": len(plan.placements),
        "unplaced": len(plan.unplaced),
        "seconds": elapsed,
        "per_second": len(pending) / elapsed,
    }


def run_rebuild_per_event(
    nodes: list[NodeView], pending: list[PendingInstance]
) -> dict[str, float]:
    ledger = CapacityLedger()
    groups = {n.node_id: n.groups for n in nodes}
    for n in nodes:
        ledger.set_node(n.node_id, n.capacities_total)
    placed = 0
    start = time.perf_counter()
    for inst in pending:
        views = [ledger.view(node_id, groups=groups[node_id], ready=True) for node_id in groups]
        plan = plan_placements(views, [inst])
        ledger.apply(plan)
        placed += len(plan.placements)
    elapsed = time.perf_counter() - start
    return {
        "instances": len(pending),
        "placed": placed,
        "unplaced": len(pending) - placed,
        "seconds": elapsed,
        "per_second": len(pending) / elapsed,
    }


def run_per_event(nodes: list[NodeView], pending: list[PendingInstance]) -> dict[str, float]:
    state = ClusterState()
    for n in nodes:
        state.upsert_node(
            n.node_id, groups=n.groups, ready=True, capacities_total=n.capacities_total
        )
    placed = 0
    start = time.perf_counter()
    for inst in pending:
        placed += len(state.schedule([inst]).placements)
    elapsed = time.perf_counter() - start
    return {
        "instances": len(pending),
        "placed": placed,
        "unplaced": len(pending) - placed,
        "seconds": elapsed,
        "per_second": len(pending) / elapsed,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=1000)
    parser.add_argument("--deployments", type=int, default=10_000)
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rebuild-events", type=int, default=500, help="slow path: events")
    parser.add_argument("--out", default=str(Path(__file__).parent / "results" / "placement.json"))
    args = parser.parse_args()

    rows: list[tuple[str, dict[str, float]]] = []
    for strategy in ("spread", "binpack", "mixed"):
        rng = random.Random(args.seed)
        nodes = make_nodes(args.nodes, args.groups, rng)
        pending = make_pending(args.deployments, args.groups, rng, strategy=strategy)
        rows.append((f"batch {strategy}, {args.groups} groups", run_batch(nodes, pending)))
    rng = random.Random(args.seed)
    nodes = make_nodes(args.nodes, 1, rng)
    pending = make_pending(args.deployments, 1, rng, strategy="spread")
    rows.append(("batch spread, 1 group", run_batch(nodes, pending)))
    rng = random.Random(args.seed)
    nodes = make_nodes(args.nodes, args.groups, rng)
    pending = make_pending(args.deployments, args.groups, rng, scale=4)
    rows.append(("batch overfull (~2x demand)", run_batch(nodes, pending)))
    rng = random.Random(args.seed)
    nodes = make_nodes(args.nodes, args.groups, rng)
    pending = make_pending(args.deployments, args.groups, rng)
    rows.append(("per-event, ClusterState", run_per_event(nodes, pending)))
    rng = random.Random(args.seed)
    nodes = make_nodes(args.nodes, args.groups, rng)
    pending = make_pending(args.rebuild_events, args.groups, rng)
    rows.append(("per-event, rebuild views each", run_rebuild_per_event(nodes, pending)))

    print(f"{args.nodes} nodes, {args.deployments} single-replica deployments")
    print(f"{'scenario':<34} {'instances':>9} {'placed':>7} {'pending':>7} {'s':>7} {'per s':>9}")
    for name, r in rows:
        print(
            f"{name:<34} {r['instances']:>9} {r['placed']:>7} {r['unplaced']:>7} "
            f"{r['seconds']:>7.3f} {r['per_second']:>9,.0f}"
        )
    result = {
        "benchmark": "placement",
        "nodes": args.nodes,
        "deployments": args.deployments,
        "groups": args.groups,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "scenarios": {name: r for name, r in rows},
    }
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
