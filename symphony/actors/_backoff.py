"""Exponential backoff with jitter and a reset after a stable run.

This is the delay policy used between actor restarts, and on its own by the node's
reconnect loop and the process restarts. It follows Kubernetes' CrashLoopBackOff and
Akka's BackoffSupervisor: the n-th consecutive delay is ``initial * factor**n``, capped at
``max``, multiplied by a random factor in ``[1 - jitter, 1 + jitter]`` (and capped again, so
``max`` is a true ceiling). Once the supervised thing has run for ``reset_after`` seconds
without failing, the sequence starts over.

Example::

    backoff = Backoff(initial=1.0, factor=2.0, max=30.0, jitter=0.0)
    tracker = backoff.tracker()
    [tracker.next_delay() for _ in range(6)]   # [1.0, 2.0, 4.0, 8.0, 16.0, 30.0]
    tracker.observe_run(backoff.reset_after)   # ran stably: the next delay is 1.0 again
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

import trio

from ._errors import ActorConfigError


def _check_number(name: str, value: float, *, minimum: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ActorConfigError(f"Backoff {name} must be a number, not {type(value).__name__}")
    if math.isnan(value):
        raise ActorConfigError(f"Backoff {name} must not be NaN")
    if value < minimum:
        raise ActorConfigError(f"Backoff {name} must be >= {minimum}, got {value}")


@dataclass(frozen=True, kw_only=True, slots=True)
class Backoff:
    """Configuration of an exponential backoff (immutable; share it freely).

    Args:
        initial: the first delay in seconds (0 means "restart at once the first time").
        factor: the multiplier between consecutive delays; at least 1.
        max: the ceiling of any delay, jitter included.
        jitter: the relative spread, 0 to 1: 0.1 means each delay is scaled by a random
            factor in [0.9, 1.1]. Jitter keeps a thousand nodes from reconnecting in step.
        reset_after: seconds of stable running after which the sequence starts over.
    """

    initial: float = 0.1
    factor: float = 2.0
    max: float = 30.0
    jitter: float = 0.1
    reset_after: float = 60.0

    def __post_init__(self) -> None:
        _check_number("initial", self.initial, minimum=0.0)
        _check_number("factor", self.factor, minimum=1.0)
        _check_number("max", self.max, minimum=0.0)
        _check_number("jitter", self.jitter, minimum=0.0)
        _check_number("reset_after", self.reset_after, minimum=0.0)
        if self.jitter > 1:
            raise ActorConfigError(f"Backoff jitter must be between 0 and 1, got {self.jitter}")
        if self.max < self.initial:
            raise ActorConfigError(
                f"Backoff max ({self.max}) must not be smaller than initial ({self.initial})"
            )

    def base_delay(self, attempt: int) -> float:
        """The delay before jitter for the ``attempt``-th consecutive retry (from 0)."""
        if self.initial == 0:
            return 0.0  # zero times anything, even past float range, is zero
        try:
            return min(self.max, self.initial * self.factor**attempt)
        except OverflowError:  # factor**attempt past float range: long since capped
            return self.max

    def delay(self, attempt: int, *, rng: random.Random | None = None) -> float:
        """The jittered delay for the ``attempt``-th consecutive retry, within its bounds."""
        base = self.base_delay(attempt)
        if self.jitter == 0 or base == 0:
            return base
        spread = (rng or random).uniform(1.0 - self.jitter, 1.0 + self.jitter)
        return min(self.max, base * spread)

    def tracker(self, *, rng: random.Random | None = None) -> BackoffTracker:
        """A fresh stateful sequence of delays following this configuration."""
        return BackoffTracker(self, rng=rng)


class BackoffTracker:
    """The running state of one backoff sequence: how many retries in a row so far.

    Owned by one task or actor; not shared.
    """

    __slots__ = ("_rng", "attempt", "backoff")

    def __init__(self, backoff: Backoff, *, rng: random.Random | None = None) -> None:
        self.backoff = backoff
        self.attempt = 0
        self._rng = rng

    def next_delay(self) -> float:
        """Return the delay before the next retry and count the retry."""
        delay = self.backoff.delay(self.attempt, rng=self._rng)
        self.attempt += 1
        return delay

    def reset(self) -> None:
        """Start the sequence over: the next delay is ``initial`` again."""
        self.attempt = 0

    def observe_run(self, seconds: float) -> None:
        """Report how long the last run lasted; a stable run resets the sequence."""
        if seconds >= self.backoff.reset_after:
            self.reset()

    async def sleep(self) -> float:
        """Sleep for the next delay (a Trio checkpoint) and return how long it was."""
        delay = self.next_delay()
        await trio.sleep(delay)
        return delay
