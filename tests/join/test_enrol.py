"""A node enrols with a join token, reuses its certificate, and speaks only for itself."""

from __future__ import annotations

import stat
from pathlib import Path

import trio

from symphony.node.enroll import IDENTITY_DIR, load_identity

from .helpers import create_token, join_node, nodes, start_conductor, start_node, wait_ready


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
