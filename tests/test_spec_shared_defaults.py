"""Specs that leave a policy out share one default instance of it (frozen, scalars only),
which equals a fresh default; a policy given is the spec's own, and patching or reading
a stored spec back leaves the shared default as it was."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from symphony.spec import parse_spec
from symphony.spec._model import PlacementPolicy, Reschedule, RestartPolicy, UpdatePolicy
from symphony.spec._parse import parse_stored_spec

BASE = {"config": {"command": ["true"]}}


def test_spec_defaults_are_one_shared_instance() -> None:
    a, b = parse_spec({**BASE, "name": "a"}), parse_spec({**BASE, "name": "b"})
    assert a.restart_policy is b.restart_policy and a.restart_policy == RestartPolicy()
    assert a.placement is b.placement and a.placement == PlacementPolicy()
    assert a.reschedule is b.reschedule and a.reschedule == Reschedule()
    assert a.update is b.update and a.update == UpdatePolicy()
    stored = parse_stored_spec(a.to_dict())
    assert stored == a  # its policies given in full: equal, not the same objects


def test_spec_a_policy_given_is_its_own_and_the_default_stays() -> None:
    default = parse_spec({**BASE, "name": "a"}).restart_policy
    own = parse_spec({**BASE, "name": "b", "restart_policy": {"backoff_seconds": 700}})
    assert own.restart_policy.max_backoff_seconds == 700  # its cap follows its first delay
    patched = parse_spec({**BASE, "name": "c"}).patched({"restart_policy": {"type": "never"}})
    assert patched.restart_policy.type == "never"
    assert default == RestartPolicy() and default.type == "on-failure"
    with pytest.raises(ValidationError):
        default.type = "never"  # type: ignore[misc]  # frozen: nothing can change it
