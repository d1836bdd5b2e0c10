"""Two Conductors sharing one store for tests: the leader/standby pair of ha.md.

They share what ha.md says Conductors share: the database (here one SQLite file, which
the second Conductor's state directory links to), the certificates and the secrets
key; each keeps its own state directory (and its lock).
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import httpx
import trio

from symphony.conductor import ConductorInfo

from ..link.cluster import start_conductor, wait_for


def share_store(first: Path, second: Path) -> dict[str, Any]:
    """Make ``second`` a state directory sharing ``first``'s store; returns the config
    overrides that share the certificates and the secrets key too."""
    second.mkdir(mode=0o700, parents=True, exist_ok=True)
    (second / "symphony.db").symlink_to(first / "symphony.db")
    return {"cert_path": first / "certs", "secrets_key_file": first / "secrets.key"}


async def start_pair(
    nursery: trio.Nursery, tmp_path: Path, *, lease_seconds: float = 1.0, **overrides: Any
) -> tuple[ConductorInfo, ConductorInfo]:
    """The first Conductor leads (it starts alone); the second stands by."""
    a = await start_first(nursery, tmp_path, lease_seconds=lease_seconds, **overrides)
    b = await start_second(nursery, tmp_path, lease_seconds=lease_seconds, **overrides)
    return a, b


async def start_first(nursery: trio.Nursery, tmp_path: Path, **overrides: Any) -> ConductorInfo:
    """A Conductor with state in ``tmp_path / "a"`` (it makes the store and the CA)."""
    return await start_conductor(nursery, tmp_path / "a", http_auth="none", **overrides)


async def start_second(nursery: trio.Nursery, tmp_path: Path, **overrides: Any) -> ConductorInfo:
    """A Conductor with state in ``tmp_path / "b"`` sharing the first one's store."""
    shared = share_store(tmp_path / "a", tmp_path / "b")
    return await start_conductor(nursery, tmp_path / "b", http_auth="none", **shared, **overrides)


def lease_holder(db: Path) -> tuple[str, int] | None:
    """``(holder, token)`` of the leadership lease as stored, read on the side."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT holder, token FROM leases WHERE name = 'conductor'").fetchone()
    finally:
        conn.close()
    return None if row is None else (str(row[0]), int(row[1]))


def conductor_name(state_dir: Path) -> str:
    return (state_dir / "conductor-id").read_text().strip()


async def wait_leader(state_dir: Path, db: Path, *, timeout: float = 15.0) -> int:
    """Wait until the Conductor of ``state_dir`` holds the lease; returns its token."""
    name = conductor_name(state_dir)

    async def holds() -> int | None:
        held = lease_holder(db)
        return held[1] if held is not None and held[0] == name else None

    return int(await wait_for(holds, timeout=timeout))


async def api(url: str, method: str, path: str, **kwargs: Any) -> httpx.Response:
    async with httpx.AsyncClient(timeout=10) as client:
        return await client.request(method, f"{url}{path}", **kwargs)
