"""The benchmark suite runs end to end in its CI size and every scenario yields figures.

No timing is asserted here (CI machines vary); what is checked is that each scenario ran
against a real cluster and reported min / median / p99, and that bad input is refused.
The peer is never installed here (``--no-peer``).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks.run import markdown
from benchmarks.scenarios import SCENARIOS, load
from benchmarks.scenarios._figures import Figure, stats
from benchmarks.scenarios._probe import Probe

ROOT = Path(__file__).resolve().parent.parent


def bench(*args: str, timeout: float = 150) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# About 50 s on a quiet machine; twice that and more when other work shares the cores.
@pytest.mark.timeout(330)
def test_benchmarks_quick_every_scenario_produces_figures(tmp_path: Path) -> None:
    out = tmp_path / "suite.json"
    done = bench(
        "--quick", "--no-peer", "--json", str(out), "--keep", str(tmp_path / "w"), timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(out.read_text())
    assert result["failures"] == {}
    assert {"cores", "cpu_model", "python"} <= set(result["machine"])
    by_scenario: dict[str, list[dict]] = {}
    for figure in result["figures"]:
        by_scenario.setdefault(figure["scenario"], []).append(figure)
        for key in ("min", "median", "p99"):
            assert isinstance(figure["symphony"][key], int | float), figure
        assert figure["peer"] is None  # --no-peer
    assert set(by_scenario) == set(SCENARIOS)
    assert "symphony p50" in done.stdout  # the printed table
    assert markdown(result).count("\n") == len(result["figures"]) + 1  # header, rule, rows


def test_benchmarks_unknown_scenario_is_a_usage_error() -> None:
    done = bench("--scenario", "no-such-thing", timeout=30)
    assert done.returncode == 2
    assert "invalid choice" in done.stderr


def test_scenarios_load_names_the_known_ones_when_unknown() -> None:
    with pytest.raises(ValueError, match="known: limits, actors"):
        load("no-such-thing")


def test_peer_driver_refuses_an_unknown_scenario(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks.peer", "measure", "--scenario", "nope",
         "--python", sys.executable, "--workdir", str(tmp_path)],
        cwd=ROOT, capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert done.returncode != 0
    assert "unknown scenario 'nope'" in done.stderr


def test_figure_ratio_reads_as_times_better_either_way() -> None:
    slower_peer = Figure("s", "latency", "ms", stats([2.0]), peer=stats([6.0]))
    assert slower_peer.ratio() == pytest.approx(3.0)
    faster_peer = Figure("s", "rate", "per s", stats([100.0]), "higher", peer=stats([400.0]))
    assert faster_peer.ratio() == pytest.approx(0.25)
    assert Figure("s", "alone", "ms", stats([1.0])).ratio() is None


def test_stats_scale_values_but_not_the_count() -> None:
    got = stats([0.001, 0.002, 0.003], 1000)
    assert got["median"] == pytest.approx(2.0)
    assert got["n"] == 3


async def test_probe_times_a_real_job_by_its_first_line(tmp_path: Path) -> None:
    async with Probe(tmp_path / "probe.fifo") as probe:
        proc = subprocess.Popen(probe.command("job-a", seconds=30))
        try:
            line = await probe.wait_for("job-a", timeout=10)
            assert line.pid == proc.pid  # exec keeps the pid that wrote the line
        finally:
            proc.kill()
            proc.wait()
        garbage = subprocess.run(["/bin/sh", "-c", f"echo 'no pid here' > {probe.path}"])
        assert garbage.returncode == 0
        proc = subprocess.Popen(probe.command("job-b", seconds=30))
        try:
            await probe.wait_for("job-b", timeout=10)
        finally:
            proc.kill()
            proc.wait()
        assert set(probe.lines) == {"job-a", "job-b"}  # a malformed line is ignored


def test_http_floor_measures_both_servers_answering() -> None:
    from benchmarks.http_floor import SERVERS, measure

    results = measure(requests=40, rounds=1)
    assert set(results) == set(SERVERS)
    for blocks in results.values():
        assert len(blocks) == 1  # the warm-up round is not kept
        # 40 requests may take less CPU than one tick of the clock /proc counts in
        assert blocks[0]["per_s"] > 0 and blocks[0]["server_us"] >= 0


async def test_burst_cpu_counts_each_process_of_a_real_burst() -> None:
    from benchmarks.burst_cpu import run

    rows = await run(bursts=1, size=3)
    assert len(rows) == 1  # the warm-up burst is left out
    row = rows[0]
    assert row["first_201_s"] <= row["last_201_s"] and row["first_line_s"] <= row["wall_s"]
    cpu = row["cpu_s"]
    assert set(cpu) == {"conductor", "agent", "monitor", "loggers", "jobs", "client", "all"}
    # Every process was found and worked (a pid not found would read as 0 CPU).
    assert all(cpu[name] > 0 for name in ("conductor", "agent", "monitor", "jobs"))
