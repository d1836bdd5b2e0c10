"""The Conductor's state is private: directories 0700, the database and its WAL 0600.

The database holds every spec with its env values (often credentials); it was 0644 in
a 0755 directory, readable by every user of the machine.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import trio

from symphony.conductor.store import Store
from symphony.spec import parse_spec

from .link.cluster import shared_cert_node, start_conductor, start_node

SPEC = {"name": "web", "config": {"command": ["true"], "env": {"API_KEY": "s3cret"}}}


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_store_new_database_files_are_0600(tmp_path: Path) -> None:
    old = os.umask(0o022)  # the usual umask, under which the files were 0644
    try:
        with Store.open(tmp_path / "state" / "symphony.db") as store:
            store.create_deployment(parse_spec(SPEC))
            files = [tmp_path / "state" / f"symphony.db{s}" for s in ("", "-wal", "-shm")]
            assert all(f.exists() for f in files)
            assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
        assert mode(tmp_path / "state") == 0o700
    finally:
        os.umask(old)


def test_store_existing_database_files_are_tightened(tmp_path: Path) -> None:
    path = tmp_path / "symphony.db"
    with Store.open(path) as store:
        store.create_deployment(parse_spec(SPEC))
        for suffix in ("", "-wal", "-shm"):
            os.chmod(f"{path}{suffix}", 0o644)
    with Store.open(path):
        for suffix in ("", "-wal", "-shm"):
            assert mode(Path(f"{path}{suffix}")) == 0o600, suffix


async def test_conductor_tightens_its_state_directory_at_start(tmp_path: Path) -> None:
    state = tmp_path / "storage"
    (state / "certs").mkdir(parents=True)
    os.chmod(state, 0o755)
    os.chmod(state / "certs", 0o755)
    (state / "api-token").write_text("old-token\n")
    os.chmod(state / "api-token", 0o644)
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, state)
        assert info.api_token == "old-token"
        assert mode(state) == 0o700
        assert mode(state / "certs") == 0o700
        assert mode(state / "api-token") == 0o600
        for suffix in ("", "-wal", "-shm"):
            db = state / f"symphony.db{suffix}"
            assert not db.exists() or mode(db) == 0o600, suffix
        assert mode(state / "symphony.db") == 0o600
        nursery.cancel_scope.cancel()


async def test_node_tightens_its_state_directory_at_start(tmp_path: Path) -> None:
    node_state = tmp_path / "node"
    node_state.mkdir()
    os.chmod(node_state, 0o755)
    async with trio.open_nursery() as nursery:
        info = await start_conductor(nursery, tmp_path / "c")
        await start_node(nursery, shared_cert_node(info, "n1", node_state))
        assert mode(node_state) == 0o700
        nursery.cancel_scope.cancel()
