"""The node's incarnation token: made once per state directory, private, stable."""

from __future__ import annotations

from pathlib import Path

import pytest

from symphony.node.incarnation import FILE_NAME, ensure_incarnation


def test_node_incarnation_is_made_once_private_and_kept(tmp_path: Path) -> None:
    token = ensure_incarnation(tmp_path)
    path = tmp_path / FILE_NAME
    assert path.stat().st_mode & 0o777 == 0o600
    assert len(token) == 32 and token.isalnum()
    assert ensure_incarnation(tmp_path) == token  # the same agent state: the same incarnation
    other = tmp_path / "other"
    other.mkdir()
    assert ensure_incarnation(other) != token  # another state directory: another one


def test_node_incarnation_damaged_file_is_an_error_not_replaced(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_text("not a token\n")
    with pytest.raises(ValueError, match="does not hold a valid incarnation token"):
        ensure_incarnation(tmp_path)
    assert (tmp_path / FILE_NAME).read_text() == "not a token\n"
