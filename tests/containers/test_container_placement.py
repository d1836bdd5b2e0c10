"""Placement by container runtime, and nodes older than protocol 4 (which report none)."""

from __future__ import annotations

import msgpack

from symphony.conductor.placement import (
    NodeView,
    PendingInstance,
    plan_placements,
    runtime_requests,
    runtime_totals,
)
from symphony.wire import Hello, decode, encode


def _node(node_id: str, runtimes: tuple[str, ...]) -> NodeView:
    return NodeView(node_id, frozenset({"g"}), True, runtime_totals({"A": 4}, runtimes))


def _pending(kind: str) -> PendingInstance:
    return PendingInstance(f"{kind}-0", "d", "g", runtime_requests(kind, {"A": 1}))


def test_container_jobs_go_only_to_nodes_with_their_runtime() -> None:
    nodes = [_node("plain", ()), _node("pod", ("podman",))]
    plan = plan_placements(nodes, [_pending("podman"), _pending("exec")])
    where = {p.instance_id: p.node_id for p in plan.placements}
    assert where["podman-0"] == "pod"
    (unplaced,) = plan_placements(nodes, [_pending("docker")]).unplaced
    assert unplaced.reason == "no ready node in group g has the docker container runtime"


def test_container_runtime_never_runs_out() -> None:
    many = [_pending("podman") for _ in range(3)]
    many = [PendingInstance(f"p{i}", "d", "g", p.capacity_requests) for i, p in enumerate(many)]
    assert len(plan_placements([_node("pod", ("podman",))], many).placements) == 3


def test_container_hello_of_an_older_node_reports_no_runtime() -> None:
    raw = msgpack.unpackb(encode(Hello(protocol_version=3, node_id="old")))
    raw.pop("container_runtimes", None)  # a version-3 node has no such key
    hello = decode(msgpack.packb(raw))
    assert isinstance(hello, Hello) and hello.container_runtimes == ()
    assert runtime_totals({"A": 1}, hello.container_runtimes) == {"A": 1}
