"""The client finds a local Conductor's files under ./.symphony or the seed's ./storage."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from symphony.client import find_conductor, find_token, locate


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


@pytest.mark.parametrize("state_dir", [".symphony", "storage"])
def test_discovery_looks_in_parent_directories_nearest_first(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, state_dir: str
) -> None:
    for name in ("SYMPHONY_URL", "SYMPHONY_TOKEN", "SYMPHONY_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    outer, inner = tmp_path / state_dir, tmp_path / "project" / ".symphony"
    for directory, port in ((outer, 9), (inner, 10)):
        directory.mkdir(parents=True)
        (directory / "conductor.json").write_text(json.dumps({"url": f"http://127.0.0.1:{port}"}))
        (directory / "api-token").write_text(f"token-{port}\n")
    deep = tmp_path / "project" / "src" / "pkg"
    deep.mkdir(parents=True)
    monkeypatch.chdir(deep)
    located = locate()
    assert (located.url, located.token, located.state_dir) == (
        "http://127.0.0.1:10",
        "token-10",
        inner,
    )
    assert located.url_from == str(inner / "conductor.json")
    monkeypatch.chdir(tmp_path / "project" / "src" / "..")
    assert find_conductor() == "http://127.0.0.1:10"
    monkeypatch.chdir(tmp_path)
    assert (find_conductor(), find_token()) == ("http://127.0.0.1:9", "token-9")


def test_discovery_says_what_it_searched_when_nothing_is_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("SYMPHONY_URL", "SYMPHONY_TOKEN", "SYMPHONY_STATE_DIR"):
        monkeypatch.delenv(name, raising=False)
    located = locate()
    assert located.nothing_found() and located.state_dir is None
    text = located.search_text()
    for place in ("./.symphony", "./storage", str(tmp_path), "$SYMPHONY_STATE_DIR",
                  "$SYMPHONY_URL", "$SYMPHONY_TOKEN"):  # fmt: skip
        assert place in text
