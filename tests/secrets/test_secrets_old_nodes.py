"""A job with secrets is never placed on a node older than protocol 4 (it would neither
keep the value in memory only nor mask it): it waits with a reason instead, while the
old node keeps running jobs without secrets. The pure placement rule is checked too."""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

from symphony.conductor.placement import NodeView, PendingInstance, plan_placements
from symphony.wire import (
    InstanceSecrets,
    StartInstance,
)

from ..api.helpers import cluster
from ..api.old_node import run_old_node
from ..link.cluster import shared_cert_node, start_node


def test_placement_min_protocol_skips_older_nodes_and_says_why() -> None:
    nodes = [
        NodeView("a-old", frozenset({"g"}), True, {"A": 4}),
        NodeView("b-new", frozenset({"g"}), True, {"A": 4}),
    ]
    job = PendingInstance("i1", "d1", "g", {"A": 1}, min_protocol=4)
    plan = plan_placements(nodes, [job], {"a-old": 3, "b-new": 4})
    assert [p.node_id for p in plan.placements] == ["b-new"]  # not the lowest id
    plan = plan_placements(nodes[:1], [job], {"a-old": 3})
    assert plan.placements == ()
    assert "protocol version 4 or newer" in plan.unplaced[0].reason
    # Without the requirement the old node is fine, and the reason stays the usual one.
    assert plan_placements(nodes[:1], [PendingInstance("i2", "d1", "g", {"A": 1})], {"a-old": 3})
    full = PendingInstance("i3", "d1", "g", {"A": 9}, min_protocol=4)
    assert "free" in plan_placements(nodes, [full], {"a-old": 3}).unplaced[0].reason


async def test_secrets_job_waits_for_a_new_node_and_never_reaches_an_old_one(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path, node=False) as c:
        seen: list[Any] = []
        node = partial(run_old_node, version=3, capacities={"Analytic1": 10}, keep_all=True)
        await c.nursery.start(node, c.info, seen)
        await c.http.post("/secrets", json={"name": "tok", "value": "abcdefgh-1234"})
        env = {"T": {"secret": "tok"}}
        command = ["sleep", "600"]
        job = {"name": "needs", "node_group": "gpu-1", "config": {"command": command, "env": env}}
        assert (await c.http.post("/deployments", json=job)).status_code == 201
        plain = {"name": "plain", "node_group": "gpu-1", "config": {"command": ["true"]}}
        assert (await c.http.post("/deployments", json=plain)).status_code == 201
        await c.wait_running("plain")  # the old node still runs jobs without secrets
        waiting = await c.wait_for(
            "needs", lambda d: "protocol version 4" in (d.get("pending_reason") or "")
        )
        assert waiting["instances"][0]["state"] == "pending"
        nodes = (await c.http.get("/nodes")).json()["nodes"]
        assert [n["protocol_version"] for n in nodes] == [3]
        # A new node joins: the job runs there.
        await start_node(c.nursery, shared_cert_node(c.info, "n1", tmp_path / "n1"))
        running = await c.wait_running("needs", timeout=15)
        assert running["instances"][0]["node_id"] == "n1"
    assert not any(isinstance(m, InstanceSecrets) for m in seen)
    starts = [m for m in seen if isinstance(m, StartInstance)]
    assert [s.deployment_name for s in starts] == ["plain"]
    assert all(s.secrets is None and s.spec.config.secret_env is None for s in starts)


def test_placement_a_gang_member_with_secrets_goes_only_to_new_nodes() -> None:
    from symphony.conductor.placement import ClusterState

    state = ClusterState()
    state.upsert_node("a-old", groups=["g"], ready=True, capacities_total={"A": 4})
    state.protocols["a-old"] = 3
    members = [
        PendingInstance("i1", "d1", "g", {"A": 1}, gang="exp", min_protocol=4),
        PendingInstance("i2", "d2", "g", {"A": 1}, gang="exp"),
    ]
    assert state.schedule_gang(members).placements == ()  # whole or not at all
    state.upsert_node("b-new", groups=["g"], ready=True, capacities_total={"A": 4})
    state.protocols["b-new"] = 4
    placed = {p.instance_id: p.node_id for p in state.schedule_gang(members).placements}
    assert placed["i1"] == "b-new" and set(placed) == {"i1", "i2"}
