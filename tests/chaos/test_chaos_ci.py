"""CI-sized chaos: a real Conductor and three real Nodes, driven through the HTTP API
while faults hit them, with every invariant checked (see docs/benchmarks.md).

One test case per group of faults (``api_only`` has none), each with all invariants on,
so that a known bug is marked on the one case that shows it and the others keep
guarding. Runs are derandomized (the same actions every time) and bounded; a failure is
shrunk for at most ``SHRINK_BUDGET`` seconds. Longer runs:
``python -m benchmarks.chaos --minutes N``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis.stateful import run_state_machine_as_test

from benchmarks.chaos import Chaos, ChaosConfig

from .machine import machine_for

SHRINK_BUDGET = 20.0  # seconds of shrinking after the first failure


def case(faults: set[str], size: tuple[int, int]) -> Any:
    """One test case: the faults it injects and (examples, actions per example)."""
    return pytest.param(frozenset(faults), size, id="_".join(sorted(faults)) or "api_only")


CASES = [
    case(set(), (3, 12)),
    case({"kill_job"}, (3, 12)),
    case({"kill_agent", "freeze_node"}, (3, 8)),
    case({"kill_monitor"}, (2, 8)),
    case({"restart_conductor"}, (3, 8)),
]


def run_case(
    root: Path, faults: frozenset[str], *, examples: int, steps: int, shrink: bool = True
) -> None:
    """Run the state machine against a fresh cluster; print what it did (``-s``)."""
    config = ChaosConfig(faults=faults)
    phases = [Phase.explicit, Phase.reuse, Phase.generate] + ([Phase.shrink] if shrink else [])
    with Chaos.started(root, config) as chaos:
        try:
            run_state_machine_as_test(
                machine_for(chaos, shrink_budget=SHRINK_BUDGET),
                settings=settings(
                    max_examples=examples,
                    stateful_step_count=steps,
                    derandomize=True,
                    database=None,
                    deadline=None,
                    phases=phases,
                    suppress_health_check=list(HealthCheck),
                    print_blob=False,
                ),
            )
        finally:
            print(f"steps {chaos.step}, done {dict(chaos.counts)}, checks {dict(chaos.checks)}")
            for violation in chaos.violations:
                print(violation)


@pytest.mark.timeout(300)
@pytest.mark.parametrize(("faults", "size"), CASES)
def test_chaos_invariants_hold_under_faults(
    tmp_path: Path, faults: frozenset[str], size: tuple[int, int]
) -> None:
    examples, steps = size
    run_case(tmp_path, faults, examples=examples, steps=steps)
