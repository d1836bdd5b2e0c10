"""Reschedule delays (pure): Backoff's doubling, capped, with jitter."""

from __future__ import annotations

import random

from symphony.conductor.deployments.retries import Retries
from symphony.spec import parse_spec


def _policy(**reschedule: object) -> object:
    spec = parse_spec({"name": "a", "config": {"command": ["x"]}, "reschedule": reschedule})
    return spec.reschedule


def test_retries_delays_double_up_to_the_cap_with_jitter() -> None:
    policy = _policy(attempts=6, delay_seconds=5, max_delay_seconds=30)
    retries = Retries(rng=random.Random(7))
    delays = []
    for attempt in range(1, 6):
        decision = retries.failed(0, "n1", policy)
        assert decision.attempt == attempt and decision.delay is not None
        delays.append(decision.delay)
        retries.elapsed(0, attempt, decision.avoid)
        retries.created(0)
    for delay, base in zip(delays, [5, 10, 20, 30, 30], strict=True):
        assert base * 0.9 <= delay <= min(30, base * 1.1), (delays, base)
    assert len(set(delays)) == len(delays)  # jittered, not the bare sequence


def test_retries_replicas_failing_together_come_back_apart() -> None:
    policy = _policy(attempts=3, delay_seconds=10, max_delay_seconds=60)
    retries = Retries(rng=random.Random(1))
    delays = [retries.failed(replica, "n1", policy).delay for replica in range(20)]
    assert len(set(delays)) == 20 and all(9.0 <= d <= 11.0 for d in delays if d is not None)


def test_retries_a_cap_below_the_first_delay_caps_every_delay() -> None:
    policy = _policy(attempts=2, delay_seconds=600, max_delay_seconds=300)
    for replica in range(20):
        delay = Retries().failed(replica, None, policy).delay
        assert delay is not None and 270 <= delay <= 300  # jitter never passes the cap
