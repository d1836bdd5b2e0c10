"""Partial changes to a spec: JSON merge patch semantics, validated as a whole."""

from __future__ import annotations

import pytest

from symphony.spec import SpecError, merge_patch, parse_spec

BASE = {
    "name": "trainer",
    "node_group": "gpu-1",
    "capacity_requests": {"Analytic1": 1},
    "config": {"command": ["python3", "main.py"], "env": {"LOG_LEVEL": "info", "X": "1"}},
    "restart_policy": {"type": "on-failure", "backoff_seconds": 10},
}


def test_spec_patch_changes_only_named_fields() -> None:
    spec = parse_spec(BASE)
    patched = spec.patched({"replicas": 4, "config": {"env": {"X": "2"}}})
    assert patched.replicas == 4
    assert patched.config.env == {"LOG_LEVEL": "info", "X": "2"}
    assert patched.config.command == spec.config.command
    assert patched.name == "trainer"
    assert spec.replicas == 1  # the original value is untouched


def test_spec_patch_null_resets_to_default_or_removes_key() -> None:
    spec = parse_spec({**BASE, "replicas": 3})
    patched = spec.patched({"replicas": None, "config": {"env": {"X": None}}})
    assert patched.replicas == 1
    assert patched.config.env == {"LOG_LEVEL": "info"}


def test_spec_patch_desired_state() -> None:
    assert parse_spec(BASE).patched({"desired_state": "stopped"}).desired_state == "stopped"


def test_spec_patch_errors_name_merged_paths() -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(BASE).patched({"restart_policy": {"type": "sometimes"}, "bogus": 1})
    paths = {e["path"] for e in info.value.errors}
    assert paths == {"restart_policy.type", "bogus"}


@pytest.mark.parametrize("patch", [None, [], "x", 1])
def test_spec_patch_must_be_object(patch: object) -> None:
    with pytest.raises(SpecError) as info:
        parse_spec(BASE).patched(patch)
    assert info.value.errors[0]["path"] == ""


def test_spec_merge_patch_follows_rfc7386() -> None:
    target = {"a": "b", "c": {"d": "e", "f": "g"}}
    assert merge_patch(target, {"a": "z", "c": {"f": None}}) == {"a": "z", "c": {"d": "e"}}
    assert merge_patch({"a": [1, 2]}, {"a": [3]}) == {"a": [3]}
    assert merge_patch({"a": "x"}, {"a": {"b": "c"}}) == {"a": {"b": "c"}}
    assert target == {"a": "b", "c": {"d": "e", "f": "g"}}  # inputs not modified
