"""Conductors sharing one database (SQLite or PostgreSQL) share secrets through the key
file each is given; the database holds only sealed values."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from symphony.conductor.secrets import SecretKeyError, SecretVault
from symphony.conductor.store import Store


def test_secrets_conductors_on_one_database_open_them_with_the_same_key_file(
    store_url: str, tmp_path: Path
) -> None:
    with Store.open_url(store_url) as first, Store.open_url(store_url) as second:
        SecretVault.open(first, tmp_path / "secrets.key").set("tok", "plain-text-value")
        sealed = second.get_sealed_secret("tok")
        assert sealed is not None and b"plain-text-value" not in sealed
        shared = SecretVault.open(second, tmp_path / "secrets.key")
        assert shared.resolve({"T": "tok"}) == {"T": "plain-text-value"}
        stranger = SecretVault.open(second, tmp_path / "another.key")
        with pytest.raises(SecretKeyError, match=re.escape("conductor.secrets_key_file")):
            stranger.resolve({"T": "tok"})
