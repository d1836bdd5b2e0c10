"""Conductors sharing a database must be given the same CA, API token and secrets key:
the first records their fingerprints, a later one with other files is refused (on
SQLite and on PostgreSQL)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import trio

from symphony.conductor import run_conductor
from symphony.conductor.service import load_pki
from symphony.conductor.shared import SharedMaterialMismatch, check_shared_material
from symphony.conductor.store import Store
from symphony.config import ConductorConfig


def conductor(state: Path, url: str) -> ConductorConfig:
    return ConductorConfig(
        state_dir=state, store_url=url, listen_host="127.0.0.1", listen_port=0, http_port=0
    )


def test_store_shared_material_same_files_pass_other_files_are_named(
    store_url: str, tmp_path: Path
) -> None:
    first = conductor(tmp_path / "a", store_url)
    with Store.open_url(store_url) as store:
        check_shared_material(store, first, load_pki(first))
        # A second Conductor given copies of the first one's files: accepted.
        second = conductor(tmp_path / "b", store_url)
        (tmp_path / "b").mkdir(mode=0o700)
        shutil.copytree(tmp_path / "a" / "certs", tmp_path / "b" / "certs")
        for name in ("api-token", "secrets.key"):
            shutil.copy2(tmp_path / "a" / name, tmp_path / "b" / name)
        check_shared_material(store, second, load_pki(second))
        # A third that made its own CA and token on its first start: refused, naming both.
        third = conductor(tmp_path / "c", store_url)
        (tmp_path / "c").mkdir(mode=0o700)
        shutil.copy2(tmp_path / "a" / "secrets.key", tmp_path / "c" / "secrets.key")
        with pytest.raises(SharedMaterialMismatch) as info:
            check_shared_material(store, third, load_pki(third))
    message = str(info.value)
    assert "another CA (ca.pem and ca.key" in message and "another API token" in message
    assert "secrets key" not in message


async def test_store_shared_material_a_mismatched_conductor_does_not_start(
    store_url: str, tmp_path: Path
) -> None:
    with Store.open_url(store_url) as store:
        store.pin_shared_material("ca", "sha256:" + "0" * 64)  # another cluster's CA
    with pytest.raises(SharedMaterialMismatch, match="another CA"):
        with trio.fail_after(30):
            await run_conductor(conductor(tmp_path / "x", store_url))
