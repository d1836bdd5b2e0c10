"""The benchmark suite: every scenario against Symphony, the peer beside it, the limit under it.

    python -m benchmarks                      # full run (tens of minutes; installs the peer)
    python -m benchmarks --quick --no-peer    # CI-sized, under a minute
    python -m benchmarks --scenario launch --scenario restart

Prints one table (median and p99 of repeated runs for Symphony, the peer's median and the
ratio, the limit's median, the target and whether it is met) and writes
``benchmarks/results/suite.json`` (``suite-quick.json`` for ``--quick``) with the machine
(cores, CPU model, Python) and every figure's min / median / p99. A full run also redraws
the chart of ``docs/benchmarks.md`` from it (``benchmarks/chart.py``).

The peer (``symphony-orchestra`` 1.0.0b8 from PyPI) is installed into its own virtual
environment on first use and run inside a private network namespace when this runs as
root; see ``benchmarks/peer.py``.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
import traceback
from pathlib import Path
from typing import Any

import trio

from benchmarks._report import machine, print_table, write_json
from benchmarks.chart import charted_figures, write_chart
from benchmarks.scenarios import SCENARIOS, load
from benchmarks.scenarios._context import Context
from benchmarks.scenarios._figures import Figure, status


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0]
    )
    parser.add_argument("--quick", action="store_true", help="CI-sized run (under a minute)")
    parser.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIOS,
        metavar="NAME",
        help=f"run only these (repeatable): {', '.join(SCENARIOS)}",
    )
    parser.add_argument("--no-peer", action="store_true", help="do not install or run the peer")
    parser.add_argument(
        "--peer-venv",
        type=Path,
        default=None,
        help="virtual environment for the peer (default ~/.cache/symphony-bench/peer-VERSION)",
    )
    parser.add_argument("--keep", type=Path, help="keep logs and state in this directory")
    parser.add_argument("--out", default=None, help="JSON name under benchmarks/results/")
    parser.add_argument("--json", type=Path, default=None, help="write the JSON to this file")
    parser.add_argument(
        "--markdown", type=Path, default=None, help="print a saved run's JSON as a Markdown table"
    )
    return parser.parse_args(argv)


def _num(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:.3g}"


def markdown(result: dict[str, Any]) -> str:
    """A saved run as the Markdown table of ``docs/benchmarks.md``."""
    lines = [
        "| figure | unit | Symphony p50 | p99 | peer p50 | vs peer | limit p50 (what) "
        "| target | status |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for f in result["figures"]:
        ratio = f.get("ratio_vs_peer")
        limit = f"{_num(f['limit']['median'])} ({f['limit_label']})" if f["limit"] else ""
        lines.append(
            f"| {f['label']} | {f['unit']} | {_num(f['symphony']['median'])} "
            f"| {_num(f['symphony']['p99'])} "
            f"| {_num(f['peer']['median']) if f['peer'] else '-'} "
            f"| {f'{ratio:.2f}x' if ratio is not None else '-'} | {limit} "
            f"| {f['target']} | {status(f['met'])} |"
        )
    return "\n".join(lines)


def rows(figures: list[Figure]) -> list[list[Any]]:
    out = []
    for f in figures:
        ratio = f.ratio()
        out.append(
            [
                f.label,
                f.unit,
                f.symphony["median"],
                f.symphony["p99"],
                f.peer["median"] if f.peer else "-",
                f"{ratio:.1f}x" if ratio is not None else "-",
                f.limit["median"] if f.limit else "",
                f.limit_label,
                f.target,
                status(f.met),
            ]
        )
    return out


HEADER = [
    "figure",
    "unit",
    "symphony p50",
    "p99",
    "peer p50",
    "vs peer",
    "limit p50",
    "limit",
    "target",
    "status",
]


async def run_all(ctx: Context, names: list[str]) -> tuple[list[Figure], dict[str, str]]:
    figures: list[Figure] = []
    failures: dict[str, str] = {}
    for name in names:
        print(f"== {name}", flush=True)
        began = time.perf_counter()
        try:
            got = await load(name).run(ctx)
        except Exception:
            failures[name] = traceback.format_exc()
            print(failures[name], file=sys.stderr, flush=True)
            continue
        figures += got
        print(f"   {len(got)} figures in {time.perf_counter() - began:.1f} s", flush=True)
    return figures, failures


def main(argv: list[str] | None = None) -> int:
    args = parse(argv)
    if args.markdown:
        print(markdown(json.loads(args.markdown.read_text())))
        return 0
    names = [n for n in SCENARIOS if not args.scenario or n in args.scenario]
    logging.getLogger("symphony").setLevel(logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="symphony-bench-") as tmp:
        workdir = Path(args.keep or tmp)
        workdir.mkdir(parents=True, exist_ok=True)
        ctx = Context(quick=args.quick, workdir=workdir)
        peer_info: dict[str, Any] = {"used": False}
        if not args.no_peer:
            from benchmarks import peer

            ctx.peer, ctx.peer_skipped, peer_info = peer.prepare(args.peer_venv, workdir)
        started = time.time()
        figures, failures = trio.run(run_all, ctx, names)
        failures |= ctx.partial_failures
    print_table(
        f"Symphony benchmarks ({'quick' if args.quick else 'full'}; "
        f"{machine()['cores']} cores, Python {machine()['python']})",
        HEADER,
        rows(figures),
    )
    notes = sorted({f"{f.scenario}: {f.peer_note}" for f in figures if f.peer_note})
    if notes:
        print("\npeer notes:\n  " + "\n  ".join(notes))
    result = {
        "mode": "quick" if args.quick else "full",
        "started_at": started,
        "seconds": time.time() - started,
        "scenarios": names,
        "peer": peer_info,
        "failures": failures,
        "figures": [f.to_json() for f in figures],
    }
    if args.json:
        args.json.write_text(json.dumps({"machine": machine(), **result}, indent=2) + "\n")
        path = args.json
    else:
        path = write_json(args.out or ("suite-quick" if args.quick else "suite"), result)
    print(f"\nwritten: {path}")
    if not args.quick and not args.json and charted_figures(result):
        # A full run into benchmarks/results/ redraws the chart of docs/benchmarks.md.
        print(f"chart: {write_chart({'machine': machine(), **result})}")
    if failures:
        print(f"FAILED scenarios: {', '.join(failures)}", file=sys.stderr)
        return 1
    return 0
