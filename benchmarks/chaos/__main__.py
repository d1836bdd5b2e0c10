"""``python -m benchmarks.chaos --minutes N [--seed S]``: a long chaos run.

Starts a Conductor and three Nodes in a temporary directory, runs a seeded random walk of
API operations and faults for N minutes (see ``walk.py``), prints a table (steps, faults
injected by kind, invariant checks made, violations with the seed and the step) and writes
the same as JSON under ``benchmarks/results/``. Exit status 1 if any invariant broke.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from .._report import RESULTS_DIR, machine
from .config import FAULTS, INVARIANTS, OPERATIONS, ChaosConfig
from .walk import WalkResult, walk


def names(text: str, allowed: dict[str, str] | tuple[str, ...]) -> frozenset[str]:
    chosen = frozenset(n.strip() for n in text.split(",") if n.strip())
    unknown = chosen - set(allowed)
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown: {sorted(unknown)}; known: {sorted(allowed)}")
    return chosen


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.chaos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--minutes", type=float, default=5.0, help="how long (default 5)")
    parser.add_argument("--seed", type=int, default=None, help="default: from the clock")
    parser.add_argument(
        "--faults",
        type=lambda t: names(t, FAULTS),
        default=frozenset(FAULTS),
        help=f"comma-separated subset of {','.join(FAULTS)} (default all)",
    )
    parser.add_argument(
        "--invariants",
        type=lambda t: names(t, INVARIANTS),
        default=frozenset(INVARIANTS),
        help=f"comma-separated subset of {','.join(INVARIANTS)} (default all)",
    )
    parser.add_argument("--nodes", type=int, default=3, help="real nodes (default 3)")
    parser.add_argument(
        "--api-limit", type=float, default=1.0, help="seconds an API call may take (default 1)"
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=None,
        help="where to write the result (default benchmarks/results/chaos-SEED.json)",
    )
    return parser.parse_args(argv)


def table(result: WalkResult) -> str:
    """The printed summary of a run."""
    lines = [
        f"chaos run: seed {result.seed}, {result.seconds / 60:.1f} min, {result.steps} steps",
        "",
        f"{'action':<20} {'count':>6} {'median s':>9}",
    ]
    for kind in [*OPERATIONS, "settle", *FAULTS]:
        took = result.durations.get(kind, [])
        median = f"{statistics.median(took):.2f}" if took else "-"
        lines.append(
            f"{kind + (' (fault)' if kind in FAULTS else ''):<20} "
            f"{result.actions.get(kind, 0):>6} {median:>9}"
        )
    lines += ["", f"{'invariant':<20} {'checks':>6} {'violations':>10}"]
    for kind in INVARIANTS:
        broken = sum(v["kind"] == kind for v in result.violations)
        lines.append(f"{kind:<20} {result.checks.get(kind, 0):>6} {broken:>10}")
    if result.violations:
        lines += ["", "violations (kind, seed, step, detail):"]
        for v in result.violations:
            lines.append(f"  {v['kind']:<16} seed {v['seed']} step {v['step']:<4} {v['detail']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    seed = args.seed if args.seed is not None else int(time.time()) % 1_000_000
    config = ChaosConfig(
        nodes=args.nodes, faults=args.faults, invariants=args.invariants, api_limit=args.api_limit
    )
    print(f"chaos: {args.minutes:g} min, seed {seed}, faults {sorted(config.faults)}", flush=True)
    with tempfile.TemporaryDirectory(prefix="symphony-chaos-") as tmp:
        result = walk(
            Path(tmp),
            config,
            seed=seed,
            minutes=args.minutes,
            log=lambda line: print(line, flush=True),
        )
    print(table(result))
    path = args.json or RESULTS_DIR / f"chaos-{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    data = {
        "machine": machine(),
        "config": {
            **config.__dict__,
            "faults": sorted(config.faults),
            "invariants": sorted(config.invariants),
        },
        **result.__dict__,
    }
    path.write_text(json.dumps(data, indent=1, default=list) + "\n")
    print(f"\nwritten: {path}")
    return 1 if result.violations else 0


if __name__ == "__main__":
    sys.exit(main())
