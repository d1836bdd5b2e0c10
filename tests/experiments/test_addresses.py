"""Ports of experiments' names: never the same port twice on one machine."""

from __future__ import annotations

from symphony.conductor.deployments.addresses import Addresses
from symphony.conductor.nodes.model import NodeView
from symphony.spec import ExperimentRole


def view(node_id: str, remote: str) -> NodeView:
    return NodeView(
        node_id=node_id,
        state="ready",
        groups=("g",),
        capacities_total={},
        resources={"network": {"ports": [20000, 20009], "advertise_addr": None}},
        usage={},
        last_heartbeat=None,
        connected_at=None,
        remote=remote,
        shared_certificate=False,
        heartbeat_sec=3.0,
    )


def binder(process: str) -> ExperimentRole:
    return ExperimentRole(name="rl", process=process, binds={f"{process}-svc": None})


def test_nodes_on_one_host_never_get_the_same_port() -> None:
    # Two agents on one machine (as in a test, or a laptop with two nodes) bind in one
    # port space: each allocating from its own count gave both 20000.
    addresses = Addresses()
    addresses.adopt("old", "i-old", "n1", {"kept": 20001})  # restored before the hello
    for node_id in ("n1", "n2"):
        addresses.node_seen(view(node_id, "127.0.0.1:50000"))
    addresses.node_seen(view("far", "10.0.0.9:50000"))
    got = [
        addresses.allocate("rl", f"i-{n}", node_id, binder(f"p{n}"))[f"p{n}-svc"]
        for n, node_id in enumerate(["n1", "n2", "n1", "n2"])
    ]
    assert len(set(got)) == 4 and 20001 not in got
    assert addresses.allocate("rl", "i-far", "far", binder("far"))["far-svc"] == 20000
    addresses.release("i-0")
    assert addresses.allocate("rl", "i-9", "n2", binder("p9"))["p9-svc"] not in got[1:]
