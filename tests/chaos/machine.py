"""The model-based stress test: a hypothesis state machine over the chaos harness.

One rule, ``act``, takes an action (see ``benchmarks.chaos.actions``): an API operation
or a fault, with its arguments (which deployment, how many replicas, which node). One rule
rather than one per kind because hypothesis' swarm testing switches whole rules off per
example, and a CI-sized run has too few examples to afford a run without ``create``.
On a failure hypothesis shrinks the list of actions to a short one that still fails, and
prints it as ``state.act(action=(...))`` lines.

The cluster is started once per test and healed between examples (``Chaos.heal``).
Shrinking re-runs real faults, so it gets a time budget: past it every action is a no-op,
the remaining candidates pass at once, and the smallest failure found so far is replayed
in full and reported.
"""

from __future__ import annotations

import time

from hypothesis import strategies as st
from hypothesis.control import current_build_context
from hypothesis.errors import InvalidArgument
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from benchmarks.chaos import Chaos
from benchmarks.chaos.actions import DOWNTIMES, HOLDS, SHAPES, Action, action_kinds, perform

SETTLE_EVERY = 5  # actions between two forced settles (the last one is in teardown)

ARGUMENTS = {
    "replicas1": st.integers(1, 3),
    "replicas": st.integers(0, 3),
    "index": st.integers(0, 1000),
    "flag": st.booleans(),
    "hold": st.sampled_from(HOLDS),
    "downtime": st.sampled_from(DOWNTIMES),
}


def actions(faults: frozenset[str]) -> st.SearchStrategy[Action]:
    """Any action a run with these faults may take; ``create`` first (the simplest)."""
    return st.one_of(
        [
            st.tuples(st.just(kind), *(ARGUMENTS[arg] for arg in SHAPES[kind]))
            for kind in action_kinds(faults)
        ]
    )


def final_replay() -> bool:
    """True while hypothesis replays the failure it will report (it must fail again)."""
    try:
        return bool(getattr(current_build_context(), "is_final", False))
    except InvalidArgument:  # not inside a hypothesis run
        return False


def machine_for(chaos: Chaos, *, shrink_budget: float) -> type[RuleBasedStateMachine]:
    """A state machine class bound to a started harness."""

    class ChaosMachine(RuleBasedStateMachine):
        failed_at: float | None = None  # the first failure; the shrink budget starts then

        def __init__(self) -> None:
            super().__init__()
            self.first = len(chaos.violations)
            self.since_settle = 0
            chaos.begin_example()

        @classmethod
        def out_of_budget(cls) -> bool:
            if cls.failed_at is None or final_replay():
                return False
            return time.monotonic() > cls.failed_at + shrink_budget

        @initialize(sizes=st.lists(st.integers(1, 2), min_size=1, max_size=3))
        def deployments(self, sizes: list[int]) -> None:
            """Start every example with a few deployments, so faults have targets."""
            for replicas in sizes:
                chaos.create(replicas)

        @rule(action=actions(chaos.config.faults))
        def act(self, action: Action) -> None:
            if self.out_of_budget():
                return
            perform(chaos, action)
            self.since_settle = 0 if action[0] == "settle" else self.since_settle + 1
            if self.since_settle >= SETTLE_EVERY:
                chaos.settle()
                self.since_settle = 0

        @invariant()
        def no_violation(self) -> None:
            self._raise_new()

        def _raise_new(self) -> None:
            new = chaos.violations[self.first :]
            if new:
                self.first = len(chaos.violations)
                if type(self).failed_at is None:
                    type(self).failed_at = time.monotonic()
                raise AssertionError(
                    f"{len(new)} invariant violation(s):\n" + "\n".join(map(str, new))
                )

        def teardown(self) -> None:
            try:
                if not self.out_of_budget():
                    chaos.settle()
            finally:
                chaos.heal()
            self._raise_new()

    return ChaosMachine
