"""Nodes connect over mTLS, say hello, heartbeat; bad identities are refused."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
import trio

from symphony.node.link import GetLinkStatus
from symphony.pki import create_ca, issue_node_certificate, make_node_key_and_csr

from .cluster import (
    get_nodes,
    node_state,
    own_cert_node,
    shared_cert_node,
    start_conductor,
    start_node,
    wait_for,
)


async def test_link_node_appears_ready_with_usage(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        await start_node(nursery, shared_cert_node(info, "node-1", tmp_path / "n1"))

        async def has_usage() -> dict | None:
            nodes = await get_nodes(info)
            return nodes[0] if nodes and nodes[0]["usage"] else None

        node = await wait_for(has_usage)
        assert node["node_id"] == "node-1"
        assert node["state"] == "ready"
        assert node["groups"] == ["gpu-1"]
        assert node["capacities_total"] == {"Analytic1": 10}
        assert node["shared_certificate"] is True
        usage = node["usage"]
        assert 0.0 <= usage["cpu_percent"] <= 100.0
        assert len(usage["per_core"]) == node["resources"]["cpu_count"]
        assert 0 < usage["ram_used"] <= usage["ram_total"]
        assert usage["disks"][0]["total"] > 0
        assert usage["gpus"] == []  # no GPU on this machine: an empty list, not an error
        assert time.time() - node["last_heartbeat"] < 5
        nursery.cancel_scope.cancel()


async def test_link_per_node_certificate_speaks_for_its_own_id(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        handle = await start_node(nursery, own_cert_node(info, "alpha", tmp_path / "a"))
        assert await wait_for(lambda: node_state(info, "alpha")) == "ready"
        status = await handle.link.ask(GetLinkStatus())
        assert status.state == "connected"
        assert (await get_nodes(info))[0]["shared_certificate"] is False
        nursery.cancel_scope.cancel()


async def test_link_certificate_for_a_claiming_b_is_refused(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING)
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        config = own_cert_node(info, "node-a", tmp_path / "a", claims="node-b")
        handle = await start_node(nursery, config)

        async def refused() -> str | None:
            error = (await handle.link.ask(GetLinkStatus())).last_error
            return error if error and "refused" in error else None

        error = await wait_for(refused, timeout=5)
        assert "certificate is for node 'node-a' but the hello claims 'node-b'" in error
        assert await get_nodes(info) == []
        assert "a node certificate can only speak for its own node id" in caplog.text
        nursery.cancel_scope.cancel()


async def test_link_duplicate_node_id_refused_first_stays_ready(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        await start_node(nursery, shared_cert_node(info, "twin", tmp_path / "n1"))
        assert await wait_for(lambda: node_state(info, "twin")) == "ready"
        first = (await get_nodes(info))[0]
        second = await start_node(nursery, shared_cert_node(info, "twin", tmp_path / "n2"))

        async def refusal() -> str | None:
            return (await second.link.ask(GetLinkStatus())).last_error

        error = await wait_for(refusal, timeout=5)
        assert "node id 'twin' is already connected" in error
        nodes = await get_nodes(info)
        assert len(nodes) == 1 and nodes[0]["state"] == "ready"
        assert nodes[0]["connected_at"] == first["connected_at"]  # the first link survived
        nursery.cancel_scope.cancel()


@pytest.mark.parametrize("client_cert", ["foreign-ca", "none"])
async def test_link_untrusted_client_refused_within_a_second(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, client_cert: str
) -> None:
    from symphony.pki import client_ssl_context
    from symphony.wire import TLSRejected, connect_to_conductor

    caplog.set_level(logging.INFO)
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        ca_file = info.cert_dir / "ca.pem"
        if client_cert == "foreign-ca":
            foreign = create_ca("Someone else's CA")
            key_pem, csr_pem = make_node_key_and_csr("intruder")
            (tmp_path / "k.pem").write_bytes(key_pem)
            (tmp_path / "c.pem").write_bytes(issue_node_certificate(foreign, csr_pem, "intruder"))
            context = client_ssl_context(ca_file, tmp_path / "c.pem", tmp_path / "k.pem")
        else:
            import ssl

            context = ssl.create_default_context(cafile=str(ca_file))
        started = time.monotonic()
        with pytest.raises(TLSRejected, match="rejected"):
            async with connect_to_conductor("localhost", info.node_port, context, timeout=10):
                pass
        assert time.monotonic() - started < 1.0
        await wait_for(lambda: _logged(caplog, "rejected TLS client"), timeout=2)
        nursery.cancel_scope.cancel()


async def _logged(caplog: pytest.LogCaptureFixture, text: str) -> bool:
    return text in caplog.text
