"""Real Conductors and Nodes on 127.0.0.1 for tests: ports 0, state in tmp_path."""

from __future__ import annotations

import functools
from pathlib import Path
from typing import Any

import httpx
import trio

from symphony.conductor import ConductorInfo, run_conductor
from symphony.config import ConductorConfig, NodeConfig
from symphony.node import NodeHandle, run_node
from symphony.pki import CertificateAuthority, issue_node_certificate, make_node_key_and_csr

from ..ports import port_range


def conductor_config(state_dir: Path, **overrides: Any) -> ConductorConfig:
    fields: dict[str, Any] = {
        "state_dir": state_dir,
        "listen_host": "127.0.0.1",
        "listen_port": 0,
        "http_port": 0,
    }
    fields.update(overrides)
    return ConductorConfig(**fields)


async def start_conductor(
    nursery: trio.Nursery, state_dir: Path, **overrides: Any
) -> ConductorInfo:
    return await nursery.start(run_conductor, conductor_config(state_dir, **overrides))


def shared_cert_node(
    info: ConductorInfo, node_id: str, state_dir: Path, **overrides: Any
) -> NodeConfig:
    """A node using the shared seed certificate (CN node-client), allocating its
    experiments' ports from a range of its own (:func:`port_range`)."""
    certs = info.cert_dir
    fields: dict[str, Any] = {
        "ports": port_range(),
        "node_id": node_id,
        "conductor_host": "localhost",
        "conductor_port": info.node_port,
        "groups": ("gpu-1",),
        "capacities_total": {"Analytic1": 10},
        "heartbeat_sec": 0.5,
        "ca_file": certs / "ca.pem",
        "cert_file": certs / "node-client.pem",
        "key_file": certs / "node-client.key",
        "state_dir": state_dir,
    }
    fields.update(overrides)
    return NodeConfig(**fields)


def own_cert_node(
    info: ConductorInfo, cert_node_id: str, state_dir: Path, *, claims: str | None = None
) -> NodeConfig:
    """A node with its own certificate for ``cert_node_id`` (claiming ``claims``)."""
    ca = CertificateAuthority.from_pem(
        (info.cert_dir / "ca.pem").read_bytes(), (info.cert_dir / "ca.key").read_bytes()
    )
    key_pem, csr_pem = make_node_key_and_csr(cert_node_id)
    state_dir.mkdir(parents=True, exist_ok=True)
    (state_dir / "node.key").write_bytes(key_pem)
    (state_dir / "node.pem").write_bytes(issue_node_certificate(ca, csr_pem, cert_node_id))
    return shared_cert_node(
        info,
        claims or cert_node_id,
        state_dir,
        cert_file=state_dir / "node.pem",
        key_file=state_dir / "node.key",
    )


async def start_node(nursery: trio.Nursery, config: NodeConfig) -> NodeHandle:
    return await nursery.start(functools.partial(run_node, config))


async def get_nodes(info: ConductorInfo) -> list[dict[str, Any]]:
    headers = {"Authorization": f"Bearer {info.api_token}"} if info.api_token else {}
    async with httpx.AsyncClient(headers=headers) as client:
        response = await client.get(f"{info.http_url}/nodes", timeout=5)
    assert response.status_code == 200, response.text
    return response.json()["nodes"]


async def wait_for(predicate: Any, *, timeout: float = 10.0, interval: float = 0.05) -> Any:
    """Poll an async predicate until it returns something truthy (real time)."""
    with trio.fail_after(timeout):
        while True:
            value = await predicate()
            if value:
                return value
            await trio.sleep(interval)


async def node_state(info: ConductorInfo, node_id: str) -> str | None:
    for node in await get_nodes(info):
        if node["node_id"] == node_id:
            return node["state"]
    return None
