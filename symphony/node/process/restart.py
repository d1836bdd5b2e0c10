"""The restart policy: after a run ends, restart or not, and after which delay.

Pure bookkeeping, no I/O and no clock of its own (the caller passes ``now``), so every
sequence is testable exactly. The rules:

- ``never`` restarts nothing; ``on-failure`` restarts a run that failed (non-zero exit,
  killed by a signal, declared unhealthy, or could not be spawned); ``always`` restarts
  every run that ends on its own.
- The delay comes from :class:`symphony.actors.Backoff`: ``backoff_seconds`` doubling up
  to ``max_backoff_seconds``, with jitter; a run that lasted ``reset_after_seconds``
  starts the sequence over (Kubernetes' CrashLoopBackOff).
- With ``max_restarts`` set, a run ending when that many restarts already happened within
  the last ``restart_window_seconds`` makes the instance ``failed``.
"""

from __future__ import annotations

import random
from collections import deque
from dataclasses import dataclass
from typing import Literal

from symphony.actors import Backoff
from symphony.wire import JobRestartPolicy

#: How much restart delays vary at random (±10%), so jobs that crash together do not
#: restart in step. A node setting: job specs do not carry it.
RESTART_JITTER = 0.1


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do after a run ended: restart after ``delay``, or settle in ``state``."""

    restart: bool
    delay: float = 0.0
    state: Literal["exited", "failed"] = "exited"  # when not restarting
    reason: str | None = None


class RestartTracker:
    """The restart history of one instance (owned by its ProcessSupervisor)."""

    def __init__(
        self,
        policy: JobRestartPolicy,
        *,
        jitter: float = RESTART_JITTER,
        rng: random.Random | None = None,
    ) -> None:
        self.policy = policy
        self.backoff = Backoff(
            initial=policy.backoff_seconds,
            factor=2.0,
            max=policy.max_backoff_seconds,
            jitter=jitter,
            reset_after=policy.reset_after_seconds,
        )
        self._delays = self.backoff.tracker(rng=rng)
        self._recent: deque[float] = deque()
        self.restarts = 0

    def decide(
        self,
        *,
        failed: bool,
        runtime: float,
        now: float,
        reason: str | None = None,
        spawn_error: bool = False,
    ) -> Decision:
        """Record that a run ended (``failed`` per the rules above) and decide.

        A spawn error the policy does not retry leaves the instance ``failed`` (it never
        ran); any other run the policy does not restart leaves it ``exited``.
        """
        policy = self.policy
        self._delays.observe_run(runtime)
        wanted = policy.type == "always" or (policy.type == "on-failure" and failed)
        if not wanted:
            return Decision(
                restart=False, state="failed" if spawn_error else "exited", reason=reason
            )
        window_start = now - policy.restart_window_seconds
        while self._recent and self._recent[0] <= window_start:
            self._recent.popleft()
        if policy.max_restarts is not None and len(self._recent) >= policy.max_restarts:
            return Decision(
                restart=False,
                state="failed",
                reason=f"restart budget spent: {len(self._recent)} restarts within "
                f"{policy.restart_window_seconds:g}s (max_restarts={policy.max_restarts})"
                + (f"; last: {reason}" if reason else ""),
            )
        self._recent.append(now)
        self.restarts += 1
        return Decision(restart=True, delay=self._delays.next_delay(), reason=reason)
