"""A deployment stored under older rules can still be changed through the API.

Health checks probing more often than once a second and more than 64 capacity classes
are refused since they hurt a node; a spec an older release accepted with them stays
readable. Every change validates the merged spec again: scaling, stopping and starting,
a rollback to its stored version and the auto-revert of a failed roll must not refuse
the fields the change leaves as they were stored (the node probes such a check once a
second, as its docs say). Real Conductor, real node, real processes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import trio

from symphony.conductor.store import Store
from symphony.spec import parse_stored_spec

from ..api.helpers import PYTHON, Cluster, cluster
from .test_rolling_procs import MARK, events, proven, rolled

FAST = {"type": "exec", "command": ["true"], "period_seconds": 0.2}  # below today's floor


def old_spec(**extra: Any) -> dict[str, Any]:
    """A spec as an older release stored it: one sleeping replica checked every 0.2 s."""
    sleeps = [PYTHON, "-c", "import time; time.sleep(600)", MARK, "v1"]
    update = {"min_healthy_seconds": 0.5, "healthy_deadline_seconds": 4}
    data = {"name": "web", "config": {"command": sleeps}, "health_check": FAST}
    return {**data, "update": update, **extra}


def store_old(tmp_path: Path, *specs: dict[str, Any]) -> None:
    with Store.open(tmp_path / "conductor" / "symphony.db") as store:
        for spec in specs:
            store.create_deployment(parse_stored_spec(spec))


async def patched(c: Cluster, name: str, patch: dict[str, Any]) -> dict[str, Any]:
    response = await c.http.patch(f"/deployments/{name}", json=patch)
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


async def test_a_stored_check_below_the_floor_scales_stops_reverts_and_rolls_back(
    tmp_path: Path,
) -> None:
    store_old(tmp_path, old_spec())
    await proven(tmp_path, prove_check)


async def prove_check(c: Cluster) -> None:
    await rolled(c, 1, replicas=1)
    await patched(c, "web", {"replicas": 2})
    await rolled(c, 1, replicas=2)
    await patched(c, "web", {"desired_state": "stopped"})
    await patched(c, "web", {"desired_state": "running"})
    await rolled(c, 1, replicas=2)
    # A check that never passes: the roll fails at its deadline and goes back to the
    # stored version (it used to pause: the revert's spec was refused).
    failing = {"type": "exec", "command": ["false"], "period_seconds": 1}
    assert (await patched(c, "web", {"health_check": failing}))["version"] == 2
    with trio.fail_after(60):
        while not [e for e in await events(c) if e["kind"] == "reverted"]:
            await trio.sleep(0.2)
    await rolled(c, 1, replicas=2)
    assert (await patched(c, "web", {"health_check": {**FAST, "period_seconds": 2}}))["version"]
    response = await c.http.post("/deployments/web/rollback", json={"version": 1})
    assert response.status_code == 200, response.text
    await rolled(c, 1, replicas=2)
    said = [e["message"] for e in await events(c)]
    assert any("reverting to version 1" in m for m in said), said


async def test_a_stored_spec_with_65_classes_scales_stops_and_rolls_back(tmp_path: Path) -> None:
    wide = {f"A{i}": 1 for i in range(65)}
    store_old(tmp_path, old_spec(name="wide", health_check=None, capacity_requests=wide))
    async with cluster(tmp_path, node=False) as c:
        for patch in [{"replicas": 2}, {"desired_state": "stopped"}, {"desired_state": "running"}]:
            await patched(c, "wide", patch)
        assert (await patched(c, "wide", {"capacity_requests": None}))["version"] == 2
        response = await c.http.post("/deployments/wide/rollback", json={"version": 1})
        assert response.status_code == 200, response.text
        got = (await c.http.get("/deployments/wide")).json()["spec"]
        assert len(got["capacity_requests"]) == 65 and got["replicas"] == 2
        # A new field past the rule is still refused.
        more = {"capacity_requests": {"A65": 1}}
        assert (await c.http.patch("/deployments/wide", json=more)).status_code == 422
