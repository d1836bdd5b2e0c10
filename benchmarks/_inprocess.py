"""A Conductor's node config for benchmarks that run a Conductor and one node agent
in their own process (``benchmarks.ended``, ``benchmarks.restart``).

The node connects with the Conductor's shared seed client certificate, in group
``gpu-1``, with heartbeats every 0.5 s: what such a benchmark measures is the
Conductor and the node at work, not joining.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from symphony.config import NodeConfig


def local_node_config(info: Any, state_dir: Path, capacities: dict[str, int]) -> NodeConfig:
    """Node ``n1`` for the Conductor ``info`` (what ``run_conductor`` started) describes,
    offering ``capacities``, its state in ``state_dir``."""
    certs = Path(info.cert_dir)
    return NodeConfig(
        node_id="n1",
        conductor_host="localhost",
        conductor_port=info.node_port,
        groups=("gpu-1",),
        capacities_total=capacities,
        heartbeat_sec=0.5,
        ca_file=certs / "ca.pem",
        cert_file=certs / "node-client.pem",
        key_file=certs / "node-client.key",
        state_dir=state_dir,
    )
