"""Backoff: the exact delay sequence, jitter bounds, reset, bad configuration."""

from __future__ import annotations

import math
import random

import pytest
import trio
from hypothesis import given
from hypothesis import strategies as st

from symphony.actors import ActorConfigError, Backoff


def test_backoff_sequence_is_exponential_and_capped() -> None:
    tracker = Backoff(initial=1.0, factor=2.0, max=30.0, jitter=0.0).tracker()
    assert [tracker.next_delay() for _ in range(7)] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]


def test_backoff_resets_after_stable_run_only() -> None:
    backoff = Backoff(initial=0.5, factor=3.0, max=100.0, jitter=0.0, reset_after=10.0)
    tracker = backoff.tracker()
    assert [tracker.next_delay() for _ in range(3)] == [0.5, 1.5, 4.5]
    tracker.observe_run(9.99)  # not stable long enough: keeps climbing
    assert tracker.next_delay() == 13.5
    tracker.observe_run(10.0)
    assert tracker.next_delay() == 0.5


def test_backoff_huge_attempt_stays_at_cap() -> None:
    assert Backoff(initial=1.0, factor=10.0, max=5.0, jitter=0.0).base_delay(10_000) == 5.0
    # Zero initial delay stays zero however many retries (2.0**1024 overflows a float).
    assert Backoff(initial=0.0, factor=2.0, max=5.0).delay(10_000) == 0.0


@given(
    initial=st.floats(0.0, 10.0),
    factor=st.floats(1.0, 4.0),
    jitter=st.floats(0.0, 1.0),
    attempt=st.integers(0, 60),
    seed=st.integers(0, 2**32),
)
def test_backoff_jitter_stays_within_bounds(
    initial: float, factor: float, jitter: float, attempt: int, seed: int
) -> None:
    backoff = Backoff(initial=initial, factor=factor, max=60.0, jitter=jitter)
    base = backoff.base_delay(attempt)
    delay = backoff.delay(attempt, rng=random.Random(seed))
    assert base * (1 - jitter) - 1e-9 <= delay <= min(60.0, base * (1 + jitter)) + 1e-9


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"initial": -1.0}, "initial must be >= 0"),
        ({"factor": 0.5}, "factor must be >= 1"),
        ({"jitter": 1.5}, "jitter must be between 0 and 1"),
        ({"jitter": -0.1}, "jitter must be >= 0"),
        ({"initial": math.nan}, "initial must not be NaN"),
        ({"initial": 5.0, "max": 1.0}, "max \\(1.0\\) must not be smaller than initial"),
        ({"reset_after": "10"}, "reset_after must be a number, not str"),
        ({"factor": True}, "factor must be a number, not bool"),
    ],
)
def test_backoff_rejects_invalid_configuration(kwargs: dict, message: str) -> None:
    with pytest.raises(ActorConfigError, match=message):
        Backoff(**kwargs)


async def test_backoff_sleep_waits_the_delay(autojump_clock: trio.abc.Clock) -> None:
    tracker = Backoff(initial=2.0, factor=2.0, max=60.0, jitter=0.0).tracker()
    start = trio.current_time()
    assert await tracker.sleep() == 2.0
    assert await tracker.sleep() == 4.0
    assert trio.current_time() - start == pytest.approx(6.0)
