"""A node enrols with a join token, reuses its certificate, and speaks only for itself."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
import trio

from symphony.node.enroll import IDENTITY_DIR, enroll, load_identity
from symphony.node.service import NodeCredentialsError, node_credentials
from symphony.pki import CertificateError
from symphony.wire import Hello, HelloRefused, client_hello, connect_to_conductor

from .helpers import (
    capture_logs,
    create_token,
    join_node,
    nodes,
    start_conductor,
    start_node,
    wait_ready,
)


async def test_join_node_enrols_and_shows_ready(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        created = await create_token(info)
        assert created["ca_hash"] == info.ca_fingerprint
        await start_node(nursery, join_node(info, "gpu-7", tmp_path / "n", created))
        node = await wait_ready(info, "gpu-7")
        assert node["shared_certificate"] is False
        identity = load_identity(tmp_path / "n")
        assert identity is not None and identity.node_id == "gpu-7"
        assert identity.ca_fingerprint == info.ca_fingerprint
        assert stat.S_IMODE(identity.key_file.stat().st_mode) == 0o600
        assert stat.S_IMODE((tmp_path / "n" / IDENTITY_DIR).stat().st_mode) == 0o700
        assert list(await nodes(info)) == ["gpu-7"]
        nursery.cancel_scope.cancel()


async def test_join_restart_reuses_stored_certificate(tmp_path: Path) -> None:
    with capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            info = await start_conductor(nursery, tmp_path / "c")
            created = await create_token(info)  # single-use
            await start_node(nursery, join_node(info, "n1", tmp_path / "n", created))
            await wait_ready(info, "n1")
            cert = load_identity(tmp_path / "n").cert_file.read_bytes()  # type: ignore[union-attr]
            nursery.cancel_scope.cancel()
        async with trio.open_nursery() as nursery:
            info = await start_conductor(nursery, tmp_path / "c")
            # Without any token, and again with the (now spent) token in the config:
            # both starts use the stored certificate and never join again.
            for created_again in (None, created):
                async with trio.open_nursery() as node_nursery:
                    config = join_node(info, "n1", tmp_path / "n", created_again)
                    await start_node(node_nursery, config)
                    assert (await wait_ready(info, "n1"))["shared_certificate"] is False
                    node_nursery.cancel_scope.cancel()
            nursery.cancel_scope.cancel()
    assert load_identity(tmp_path / "n").cert_file.read_bytes() == cert  # type: ignore[union-attr]
    joined = [r for r in logs.records if "joined from" in r.getMessage()]
    reused = [r for r in logs.records if "certificate from an earlier join" in r.getMessage()]
    assert len(joined) == 1 and len(reused) == 2


async def test_join_reusable_token_enrols_several_nodes(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        created = await create_token(info, reusable=True)
        for name in ("a", "b"):
            await start_node(nursery, join_node(info, name, tmp_path / name, created))
        for name in ("a", "b"):
            assert (await wait_ready(info, name))["shared_certificate"] is False
        nursery.cancel_scope.cancel()


async def test_join_enrolled_certificate_cannot_claim_another_id(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        identity = await enroll(
            host="127.0.0.1",
            port=info.node_port,
            token=(await create_token(info))["token"],
            ca_hash=info.ca_fingerprint,
            node_id="alpha",
            state_dir=tmp_path / "n",
        )
        ctx = identity.ssl_context()
        async with connect_to_conductor("127.0.0.1", info.node_port, ctx, timeout=5) as conn:
            with pytest.raises(HelloRefused, match="can only speak for its own node id"):
                await client_hello(conn, Hello(protocol_version=1, node_id="beta"), timeout=5)
        # The same certificate may speak for itself.
        async with connect_to_conductor("127.0.0.1", info.node_port, ctx, timeout=5) as conn:
            await client_hello(conn, Hello(protocol_version=1, node_id="alpha"), timeout=5)
        assert "beta" not in await nodes(info)
        nursery.cancel_scope.cancel()


async def test_join_stored_certificate_of_another_id_is_a_clear_error(tmp_path: Path) -> None:
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        await start_node(
            nursery, join_node(info, "alpha", tmp_path / "n", await create_token(info))
        )
        await wait_ready(info, "alpha")
        with pytest.raises(CertificateError, match="is for node 'alpha', not 'beta'"):
            await node_credentials(join_node(info, "beta", tmp_path / "n", None))
        with pytest.raises(NodeCredentialsError, match="no credentials"):
            await node_credentials(join_node(info, "gamma", tmp_path / "empty", None))
        nursery.cancel_scope.cancel()
