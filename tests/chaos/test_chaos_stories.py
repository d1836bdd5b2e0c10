"""Short fixed stories through the chaos harness, one per bug class the random runs look
for: each is the shortest action list that shows it, replayed with every invariant on.

The random state machine (``test_chaos_ci``) may need many examples to stumble on these
exact sequences; a story makes each one certain on every CI run.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.chaos import Chaos, ChaosConfig
from benchmarks.chaos.actions import Action, perform

STORIES: dict[str, tuple[dict[str, object], list[Action]]] = {
    # DELETE while the instances are still being placed and started.
    "delete_right_after_create": (
        {},
        [("create", 3), ("delete", 0), ("create", 1), ("delete", 0)] * 3 + [("settle",)],
    ),
    # A job killed twice spends its restart budget (one restart a minute): the instance
    # is failed and the Conductor must reschedule the replica.
    "failed_replica_rescheduled": (
        {"faults": frozenset({"kill_job"})},
        [("create", 1), ("settle",), ("kill_job", 0), ("settle",), ("kill_job", 0), ("settle",)],
    ),
    # An agent comes back, with the same node id, after its replicas were rescheduled.
    "agent_back_after_timeout": (
        {"faults": frozenset({"kill_agent"})},
        [("create", 3), ("settle",), ("kill_agent", 0, True), ("settle",)],
    ),
    # The monitor owns the jobs; losing it must not take the agent down.
    "monitor_killed": (
        {"faults": frozenset({"kill_monitor"})},
        [("create", 3), ("settle",), ("kill_monitor", 0), ("settle",)],
    ),
    # Monitors killed back to back, the second while its replacement starts: a start and
    # a stop waiting for "a monitor serves us" must be woken by whichever replacement
    # finally serves (they waited on a discarded Event, and the DELETE never answered).
    "monitor_killed_while_replaced": (
        {"faults": frozenset({"kill_monitor"})},
        [
            ("kill_monitor", 210),
            ("kill_monitor", 696),
            ("kill_monitor", 437),
            ("kill_monitor", 945),
            ("kill_monitor", 370),
            ("create", 3),
            ("patch_spec", 537),
            ("kill_monitor", 896),
            ("delete", 746),
            ("settle",),
        ],
    ),
    # The monitor dies while a replacement (stop old + start new) and a stop are in
    # flight: the new monitor must own or kill every process the old one started.
    "stop_while_monitor_replaced": (
        {"faults": frozenset({"kill_monitor"})},
        [
            ("create", 2),
            ("settle",),
            ("create", 2),
            ("patch_spec", 514),
            ("kill_monitor", 205),
            ("set_state", 516, False),
            ("settle",),
        ],
    ),
    # A large scale change and back, on two big nodes. No faults, so the deadline is not
    # the fault-recovery one: starting 300 processes is bound by process and file creation
    # (about 5 s on an idle 2-core machine, more than 17 s seen on a busy one), and a
    # node must not be declared lost while its agent is busy starting them.
    "scale_to_300_and_back": (
        {
            "nodes": 2,
            "capacity": 300,
            "faults": frozenset(),
            "node_timeout": 10.0,
            "settle_slack": 45.0,
        },
        [("create", 1), ("scale", 0, 300), ("settle",), ("scale", 0, 1), ("settle",)],
    ),
}


def run_story(root: Path, overrides: dict[str, object], story: list[Action]) -> Chaos:
    """Play ``story``; stop at the first violation (the cluster is killed either way)."""
    config = ChaosConfig(**overrides)  # type: ignore[arg-type]
    with Chaos.started(root, config) as chaos:
        for action in story:
            perform(chaos, action)
            if chaos.violations:
                break
        else:
            chaos.heal()  # a clean stop is part of the story: deleted jobs must go
    return chaos


@pytest.mark.timeout(240)
@pytest.mark.parametrize("name", list(STORIES))
def test_chaos_story_keeps_invariants(tmp_path: Path, name: str) -> None:
    overrides, story = STORIES[name]
    chaos = run_story(tmp_path, overrides, story)
    assert not chaos.violations, "\n".join(map(str, chaos.violations))
