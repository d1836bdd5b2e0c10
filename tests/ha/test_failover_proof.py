"""The failover proof with real processes (two Conductors, nodes, running jobs, a
client creating deployments all along): benchmarks/failover.py runs it; here with a
short lease."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.failover import kill_scenario, pause_scenario

LEASE = 2.0


@pytest.mark.timeout(240)
def test_failover_sigkill_of_the_leader_loses_nothing_and_restarts_nothing(
    tmp_path: Path,
) -> None:
    result = kill_scenario(tmp_path, lease=LEASE, nodes=2, jobs=4)
    assert result["takeover_s"] <= LEASE + 2, result
    assert result["nodes_back_s"] <= LEASE + 5, result  # both nodes relinked to b
    assert result["acked"] >= 20, result
    assert result["lost"] == [], result  # every acknowledged create is in the store
    assert result["duplicates"] == [], result
    assert result["restarted"] == [], result  # same pid, same restart count
    assert result["jobs_alive"], result


@pytest.mark.timeout(240)
def test_failover_sigstop_of_the_leader_then_sigcont_applies_none_of_its_writes(
    tmp_path: Path,
) -> None:
    result = pause_scenario(tmp_path, lease=LEASE)
    assert result["applied_by_old_leader"] == [], result
    # Each create sent to the old leader was refused (503: fenced, or standing by with
    # nothing applied), or, once it stood down, forwarded to the new leader, or reset
    # unanswered by the listeners it closes as it steps down (and not applied: above).
    answered = result["refused"] + result["forwarded"] + result["reset"]
    assert answered == len(result["answers"]), result
    assert result["stepped_down"], result
    assert result["lease_kept_by_new_leader"], result
