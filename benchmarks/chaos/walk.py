"""The long run: a seeded random walk over the actions, for a given number of minutes.

Unlike the hypothesis test it does not stop at the first violation: it records it (with
the seed and the step), heals the cluster and goes on, so one long run yields the list of
every kind of violation it met. A run is repeatable in its choice of actions (the seed);
the timing of real processes is not.
"""

from __future__ import annotations

import random
import time
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .actions import Action, action_kinds, perform, random_action
from .config import ChaosConfig
from .harness import Chaos

SETTLE_EVERY = 6  # actions between two forced settles
EPISODE = 30  # actions between two heals (a fresh, empty cluster state)


@dataclass
class WalkResult:
    """What a long run did and found."""

    seed: int
    seconds: float = 0.0
    steps: int = 0
    actions: dict[str, int] = field(default_factory=dict)
    checks: dict[str, int] = field(default_factory=dict)
    violations: list[dict[str, Any]] = field(default_factory=list)
    durations: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    history: list[Action] = field(default_factory=list)  # the actions since the last heal


def walk(
    root: Path, config: ChaosConfig, *, seed: int, minutes: float, log: Any = None
) -> WalkResult:
    """Run the walk against a fresh cluster in ``root`` for ``minutes`` once it is up;
    everything is stopped after."""
    rng = random.Random(seed)
    kinds = action_kinds(config.faults)
    result = WalkResult(seed=seed)
    with Chaos.started(root, config) as chaos:
        # The minutes count from a running cluster: starting it on a busy machine can
        # take longer than a short run's whole budget, which would then make no step.
        start = time.monotonic()
        seen = since_settle = since_heal = 0

        def collect() -> bool:
            nonlocal seen
            new = chaos.violations[seen:]
            seen = len(chaos.violations)
            for violation in new:
                story = [list(a) for a in result.history]
                result.violations.append({**violation.__dict__, "seed": seed, "story": story})
                if log:
                    log(f"VIOLATION {violation} (seed {seed})")
            return bool(new)

        while time.monotonic() - start < minutes * 60:
            action = random_action(rng, kinds)
            began = time.monotonic()
            perform(chaos, action)
            result.durations[str(action[0])].append(time.monotonic() - began)
            result.history.append(action)
            since_settle, since_heal = since_settle + 1, since_heal + 1
            if since_settle >= SETTLE_EVERY:
                chaos.settle()
                since_settle = 0
            if collect() or since_heal >= EPISODE:
                if since_heal >= EPISODE:
                    chaos.settle()
                chaos.heal()
                collect()
                chaos.begin_example()
                since_settle = since_heal = 0
                result.history = []
        result.steps = chaos.step
        result.actions = dict(chaos.counts)
        result.checks = dict(chaos.checks)
    result.seconds = time.monotonic() - start
    return result
