"""The client finds a local Conductor's files under ./.symphony or the seed's ./storage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from symphony.client import find_conductor, find_token


@pytest.mark.parametrize("state_dir", [".symphony", "storage"])
def test_discovery_finds_the_conductor_in_either_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_dir: str
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("SYMPHONY_URL", "SYMPHONY_TOKEN", "SYMPHONY_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    (tmp_path / state_dir).mkdir()
    (tmp_path / state_dir / "conductor.json").write_text(json.dumps({"url": "http://127.0.0.1:9"}))
    (tmp_path / state_dir / "api-token").write_text("secret\n")
    assert find_conductor() == "http://127.0.0.1:9"
    assert find_token() == "secret"


def test_discovery_defaults_without_any_state_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("SYMPHONY_URL", "SYMPHONY_TOKEN", "SYMPHONY_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    assert find_conductor() == "http://127.0.0.1:8000"
    assert find_token() is None
