"""``python -m benchmarks.chaos`` runs end to end and writes its report (a few seconds)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(180)
def test_chaos_cli_prints_table_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "chaos.json"
    run = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.chaos",
            "--minutes",
            "0.1",
            "--seed",
            "3",
            "--faults",
            "kill_job",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=170,
    )
    assert run.returncode in (0, 1), run.stderr[-3000:]
    assert "invariant" in run.stdout and "kill_job (fault)" in run.stdout, run.stdout
    report = json.loads(out.read_text())
    assert report["seed"] == 3 and report["steps"] > 0
    assert report["config"]["faults"] == ["kill_job"]
    assert report["checks"]["capacity"] > 0
    for violation in report["violations"]:
        assert {"kind", "seed", "step", "detail", "story"} <= set(violation)


def test_chaos_cli_refuses_unknown_fault() -> None:
    run = subprocess.run(
        [sys.executable, "-m", "benchmarks.chaos", "--faults", "kill_everything"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2 and "kill_everything" in run.stderr
