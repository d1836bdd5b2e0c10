"""With a node: the seed spec verbatim, events with a cursor, nodes, metrics."""

from __future__ import annotations

import re
from pathlib import Path

import trio

from .helpers import cluster

SEED = {"node_group": "gpu-1", "capacity_requests": {"Analytic1": 1}, "kind": "exec",
        "config": {"command": ["python3", "main.py"], "env": {"LOG_LEVEL": "info"}},
        "restart_policy": {"type": "on-failure", "backoff_seconds": 10}}  # fmt: skip

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{([a-zA-Z_]+="[^"]*",?)*\})? (\S+)$')


def parse_metrics(text: str) -> dict[str, float]:
    """A strict reading of the Prometheus text format: every line is HELP, TYPE or a
    sample of a family declared before it."""
    assert text.endswith("\n")
    declared: set[str] = set()
    samples: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            continue
        if line.startswith("# TYPE "):
            name, kind = line.split()[2:4]
            assert kind in ("gauge", "counter", "summary", "histogram"), line
            declared.add(name)
            continue
        match = SAMPLE.match(line)
        assert match, f"not a sample line: {line!r}"
        assert match.group(1) in declared, line
        samples[line.rsplit(" ", 1)[0]] = float(match.group(4))
    return samples


async def test_api_seed_spec_runs_and_is_reported_everywhere(tmp_path: Path) -> None:
    workdir = tmp_path / "job"
    workdir.mkdir()
    (workdir / "main.py").write_text("import os\nprint('level', os.environ['LOG_LEVEL'])\n"
                                     "import time\ntime.sleep(60)\n")  # fmt: skip
    async with cluster(tmp_path) as c:
        verbatim = await c.http.post("/deployments", json=SEED)
        assert verbatim.status_code == 201, verbatim.text
        assert verbatim.json()["spec"]["node_group"] == "gpu-1"
        # No main.py in its own work dir: python3 exits 2; it was started on the node.
        started = await c.wait_for(
            verbatim.json()["id"], lambda d: d["instances"][0]["exit_code"] == 2
        )
        assert started["instances"][0]["node_id"] == "n1"
        stderr = await c.http.get(f"/deployments/{started['name']}/logs?stream=stderr")
        assert "main.py" in stderr.text

        # The same spec with a cwd holding a main.py runs, and says so.
        with_cwd = {**SEED, "name": "seeded", "config": {**SEED["config"], "cwd": str(workdir)}}
        assert (await c.http.post("/deployments", json=with_cwd)).status_code == 201
        running = await c.wait_running("seeded")
        inst = running["instances"][0]
        assert inst["node_id"] == "n1" and inst["pid"] > 0 and inst["restarts"] == 0
        assert running["state"] == "running"
        with trio.fail_after(10):
            while "level info" not in (await c.http.get("/deployments/seeded/logs")).text:
                await trio.sleep(0.02)

        # Events: oldest first, paged with the cursor.
        page = (await c.http.get("/deployments/seeded/events?limit=2")).json()
        assert [e["id"] for e in page["events"]] == sorted(e["id"] for e in page["events"])
        assert len(page["events"]) == 2 and page["events"][0]["kind"] == "created"
        rest = (await c.http.get(f"/deployments/seeded/events?after={page['next_after']}")).json()
        assert rest["events"] and rest["events"][0]["id"] > page["next_after"]
        assert any(e["kind"] == "started" for e in rest["events"])
        assert all(e["deployment_id"] == running["id"] for e in page["events"] + rest["events"])
        empty = await c.http.get(f"/deployments/seeded/events?after={rest['next_after']}")
        assert empty.json() == {"events": [], "next_after": rest["next_after"]}

        # Nodes and metrics agree with what happened.
        node = (await c.http.get("/nodes")).json()["nodes"][0]
        assert node["node_id"] == "n1" and node["groups"] == ["gpu-1"]
        assert node["capacities_used"]["Analytic1"] >= 1
        metrics = await c.http.get("/metrics")
        assert metrics.headers["content-type"].startswith("text/plain; version=0.0.4")
        values = parse_metrics(metrics.text)
        assert values['symphony_nodes{state="ready"}'] == 1
        assert values['symphony_instances{state="running"}'] >= 1
        assert values["symphony_placements_total"] >= 2
        assert values["symphony_deployments"] == 2
        assert 0 <= values['symphony_node_heartbeat_age_seconds{node="n1"}'] < 5
        assert values['symphony_scheduling_latency_seconds{quantile="0.99"}'] >= 0
        assert "symphony_restarts_total" in values
        assert (await c.http.delete("/deployments/seeded")).json()["name"] == "seeded"


async def test_api_restarts_total_only_grows(tmp_path: Path) -> None:
    # A counter that falls reads as a reset to Prometheus: deleting the deployment whose
    # instance restarted must not take its restarts out of symphony_restarts_total.
    crashy = {
        "name": "crashy",
        "node_group": "gpu-1",
        "capacity_requests": {"Analytic1": 1},
        "config": {"command": ["sh", "-c", "exit 1"]},
        "restart_policy": {"type": "on-failure", "backoff_seconds": 0.05},
    }
    async with cluster(tmp_path) as c:
        assert (await c.http.post("/deployments", json=crashy)).status_code == 201
        await c.wait_for("crashy", lambda d: d["instances"][0]["restarts"] >= 2)

        async def total() -> float:
            return parse_metrics((await c.http.get("/metrics")).text)["symphony_restarts_total"]

        before = await total()
        assert before >= 2
        assert (await c.http.delete("/deployments/crashy")).status_code == 200
        assert await total() >= before
