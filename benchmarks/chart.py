"""The chart of ``docs/benchmarks.md``: Symphony beside the peer, drawn from a suite run.

    python -m benchmarks.chart                                   # the last full run
    python -m benchmarks.chart --json benchmarks/results/suite.json --out chart.svg

Reads the JSON that ``python -m benchmarks`` writes (``benchmarks/results/suite.json``)
and draws one panel per figure of the charted scenarios (:data:`CHARTED`: launch, burst,
restart and creates) that has a peer figure: two bars, Symphony's median and the peer's,
on the figure's own scale, with the values and which way is better. The SVG is plain
text written by this module (no plotting library, nothing fetched), so the suite can
redraw it on any machine; a full run of the suite redraws it itself.
"""

from __future__ import annotations

import argparse
import json
from html import escape
from pathlib import Path
from typing import Any

from benchmarks._report import RESULTS_DIR

#: Scenarios whose figures the chart shows, in this order.
CHARTED = ("launch", "burst", "restart", "creates")
#: Where docs/benchmarks.md shows it from.
DEFAULT_OUT = Path(__file__).resolve().parent.parent / "docs" / "images" / "benchmarks-vs-peer.svg"

WIDTH = 760
LABEL_W = 300  # the figure's name, left of the bars
BAR_W = WIDTH - LABEL_W - 110  # the longest bar; its value is printed after it
ROW_H = 18
PANEL_H = 2 * ROW_H + 26
COLOURS = {"Symphony": "#2f6fb0", "peer": "#b0b0b0"}


def charted_figures(result: dict[str, Any]) -> list[dict[str, Any]]:
    """The figures the chart shows: charted scenarios, with a peer median, in order."""
    figures = [
        f
        for f in result.get("figures", [])
        if f.get("scenario") in CHARTED and f.get("peer") and f["peer"].get("median")
    ]
    return sorted(figures, key=lambda f: CHARTED.index(f["scenario"]))


def _value(value: float, unit: str) -> str:
    text = f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"
    return f"{text} {unit}"


def _panel(figure: dict[str, Any], top: float) -> list[str]:
    ours, theirs = figure["symphony"]["median"], figure["peer"]["median"]
    scale = BAR_W / max(ours, theirs, 1e-12)
    better = "lower is better" if figure.get("better", "lower") == "lower" else "higher is better"
    ratio = figure.get("ratio_vs_peer")
    head = f"{figure['label']} ({better}"
    if ratio:
        ahead = f"Symphony {ratio:.3g}x ahead" if ratio >= 1 else f"the peer {1 / ratio:.3g}x ahead"
        head += f"; {ahead}"
    head += ")"
    parts = [f'<text x="8" y="{top + 14}" class="head">{escape(head)}</text>']
    for row, (who, value) in enumerate((("Symphony", ours), ("peer", theirs))):
        y = top + 20 + row * ROW_H
        length = max(1.0, value * scale)
        parts += [
            f'<text x="{LABEL_W - 8}" y="{y + 12}" class="who">{who}</text>',
            f'<rect x="{LABEL_W}" y="{y}" width="{length:.1f}" height="{ROW_H - 4}" '
            f'fill="{COLOURS[who]}"/>',
            f'<text x="{LABEL_W + length + 6:.1f}" y="{y + 12}" class="val">'
            f"{escape(_value(value, figure['unit']))}</text>",
        ]
    return parts


def render(result: dict[str, Any]) -> str:
    """The SVG (as text) for one suite result."""
    figures = charted_figures(result)
    machine = result.get("machine", {})
    title = (
        f"Symphony and the peer, medians of one run ({result.get('mode', '?')} mode; "
        f"{machine.get('cores', '?')} cores, Python {machine.get('python', '?')})"
    )
    height = 40 + max(1, len(figures)) * PANEL_H
    body = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{height}" '
        f'viewBox="0 0 {WIDTH} {height}" font-family="sans-serif" font-size="12">',
        "<style>.head{font-weight:bold}.who{text-anchor:end}.val{fill:#333}"
        ".title{font-size:14px;font-weight:bold}</style>",
        f'<rect width="{WIDTH}" height="{height}" fill="white"/>',
        f'<text x="8" y="22" class="title">{escape(title)}</text>',
    ]
    if not figures:
        body.append('<text x="8" y="56">no figure with a peer in this run</text>')
    for n, figure in enumerate(figures):
        body += _panel(figure, 32 + n * PANEL_H)
    body.append("</svg>")
    return "\n".join(body) + "\n"


def write_chart(result: dict[str, Any], out: Path = DEFAULT_OUT) -> Path:
    """Render ``result`` into ``out`` (directories made as needed); return the path."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(result))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.chart", description=__doc__)
    parser.add_argument("--json", type=Path, default=RESULTS_DIR / "suite.json")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args(argv)
    path = write_chart(json.loads(args.json.read_text()), args.out)
    print(f"written: {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
