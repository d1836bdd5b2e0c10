"""A job with sources never goes to a node older than protocol 4 (it would ignore the
fields and run the wrong thing); jobs without them still do; and the reason says so."""

from __future__ import annotations

import functools
from pathlib import Path

from symphony.conductor.placement import (
    NodeView,
    PendingInstance,
    job_needs,
    node_tags,
    plan_placements,
)
from symphony.wire import StartInstance

from ..api.helpers import cluster
from ..api.old_node import run_old_node


def test_placement_needs_name_what_is_missing() -> None:
    old = NodeView("old", frozenset({"g", *node_tags(3, ["e1"])}), True, {"A": 4})
    new = NodeView("new", frozenset({"g", *node_tags(4, ["e2"])}), True, {"A": 4})
    image = PendingInstance("i1", "d", "g", {"A": 1}, needs=job_needs(image=True, env_name=None))
    plan = plan_placements([old], [image])
    assert "protocol version 4" in plan.unplaced[0].reason
    assert plan_placements([old, new], [image]).placements[0].node_id == "new"
    env1 = PendingInstance("i2", "d", "g", {"A": 1}, needs=job_needs(image=False, env_name="e1"))
    reason = plan_placements([old, new], [env1]).unplaced[0].reason
    assert reason.startswith("no ready node in group g has environment e1"), reason
    plain = PendingInstance("i3", "d", "g", {"A": 1})
    assert plan_placements([old], [plain]).placements  # nothing needed: any node


async def test_old_node_gets_no_job_with_sources_but_still_plain_ones(tmp_path: Path) -> None:
    async with cluster(tmp_path, node=False) as c:
        seen: list[StartInstance] = []
        await c.nursery.start(
            functools.partial(run_old_node, version=3, capacities={"Analytic1": 10}), c.info, seen
        )
        with_image = {
            "name": "with-image",
            "node_group": "gpu-1",
            "config": {"image": "https://example.org/app.zip", "command": ["python3", "m.py"]},
        }
        assert (await c.http.post("/deployments", json=with_image)).status_code == 201
        pending = await c.wait_for(
            "with-image",
            lambda d: "protocol version 4" in (d["instances"][0]["reason"] or ""),
            timeout=20,
        )
        assert pending["instances"][0]["state"] == "pending"
        plain = {"name": "plain", "node_group": "gpu-1", "config": {"command": ["true"]}}
        assert (await c.http.post("/deployments", json=plain)).status_code == 201
        await c.wait_running("plain", timeout=20)
        assert [s.deployment_name for s in seen] == ["plain"]


def test_gang_members_need_their_environment_too() -> None:
    from symphony.conductor.placement import plan_gang
    from symphony.conductor.placement._index import NodeIndex

    plain = NodeView("plain", frozenset({"g", *node_tags(4, [])}), True, {"A": 4})
    needs = job_needs(image=False, env_name="e1")
    members = [
        PendingInstance(f"p{i}", f"d{i}", "g", {"A": 1}, needs=needs, gang="exp", gang_group="x")
        for i in range(2)
    ]
    refused = plan_gang(NodeIndex([plain]), members)
    assert not refused.placements and "environment e1" in refused.unplaced[0].reason
    with_env = NodeView("env", frozenset({"g", *node_tags(4, ["e1"])}), True, {"A": 4})
    placed = plan_gang(NodeIndex([plain, with_env]), members)
    assert {p.node_id for p in placed.placements} == {"env"}
