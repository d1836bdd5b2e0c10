"""The chart of docs/benchmarks.md is drawn from a suite run's JSON, with no plotting library."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

from benchmarks.chart import BAR_W, main, render


def _figure(scenario: str, label: str, ours: float, peer: float | None) -> dict[str, Any]:
    return {
        "scenario": scenario,
        "label": label,
        "unit": "ms",
        "better": "lower",
        "symphony": {"median": ours},
        "peer": {"median": peer} if peer is not None else None,
        "ratio_vs_peer": peer / ours if peer else None,
    }


RESULT = {
    "mode": "full",
    "machine": {"cores": 2, "python": "3.11.7"},
    "figures": [
        _figure("restart", "restart after SIGKILL", 4.0, 7.0),
        _figure("launch", "launch of 5 jobs", 30.0, 900.0),
        _figure("burst", "burst of 100", 400.0, None),  # no peer: not charted
        _figure("api_list", "list 10,000", 1.0, 2.0),  # not a charted scenario
    ],
}


def test_chart_has_one_panel_per_charted_figure_with_a_peer(tmp_path: Path) -> None:
    svg = render(RESULT)
    root = ET.fromstring(svg)  # well-formed
    texts = [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}text")]
    heads = [t for t in texts if "is better" in t]
    assert [h.split(" (")[0] for h in heads] == ["launch of 5 jobs", "restart after SIGKILL"]
    assert "30 ms" in texts and "900 ms" in texts and "Symphony 30x ahead" in heads[0]
    assert "Symphony 1.75x ahead" in heads[1]
    bars = [float(r.get("width", 0)) for r in root.iter("{http://www.w3.org/2000/svg}rect")]
    # Each panel on its own scale: the longer bar is full length.
    expected = [BAR_W / 30, BAR_W, BAR_W * 4 / 7, BAR_W]
    assert bars[1:] == pytest.approx(expected, abs=0.1)


def test_chart_script_writes_the_file(tmp_path: Path) -> None:
    source, out = tmp_path / "suite.json", tmp_path / "img" / "chart.svg"
    source.write_text(json.dumps(RESULT))
    assert main(["--json", str(source), "--out", str(out)]) == 0
    assert out.read_text().startswith("<svg")
