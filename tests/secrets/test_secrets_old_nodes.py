"""A job with secrets is never placed on a node older than protocol 4 (it would neither
keep the value in memory only nor mask it): it waits with a reason instead, while the
old node keeps running jobs without secrets. The pure placement rule is checked too."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import trio

from symphony.conductor.placement import NodeView, PendingInstance, plan_placements
from symphony.wire import (
    Heartbeat,
    Hello,
    HelloAccepted,
    InstanceSecrets,
    InstanceStatus,
    StartInstance,
    connect_to_conductor,
)

from ..api.helpers import cluster
from ..api.test_api_logs_v1_node import _context
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


async def _old_node(
    info: Any, seen: list[Any], task_status: Any = trio.TASK_STATUS_IGNORED
) -> None:
    """A version-3 node: it records every message it is sent and runs every start."""
    async with connect_to_conductor("localhost", info.node_port, _context(info)) as conn:
        hello = Hello(
            protocol_version=3,
            min_protocol_version=3,
            node_id="old",
            groups=("gpu-1",),
            capacities_total={"Analytic1": 10},
            heartbeat_sec=0.5,
            incarnation="v3-node",
        )
        await conn.send(hello)
        accepted = await conn.receive()
        assert isinstance(accepted, HelloAccepted) and accepted.protocol_version == 3
        task_status.started()
        async with trio.open_nursery() as nursery:

            async def beat() -> None:
                for seq in range(10**6):
                    await conn.send(Heartbeat(seq=seq))
                    await trio.sleep(0.3)

            nursery.start_soon(beat)
            while True:
                received = await conn.receive()
                for msg in received if isinstance(received, list) else [received]:
                    seen.append(msg)
                    if isinstance(msg, StartInstance):
                        running = InstanceStatus(
                            instance_id=msg.instance_id,
                            deployment_id=msg.deployment_id,
                            state="running",
                            pid=4242,
                            at=time.time(),
                        )
                        await conn.send(running)


async def test_secrets_job_waits_for_a_new_node_and_never_reaches_an_old_one(
    tmp_path: Path,
) -> None:
    async with cluster(tmp_path, node=False) as c:
        seen: list[Any] = []
        await c.nursery.start(_old_node, c.info, seen)
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
