"""The agent's restart tracker: the restart rule (:mod:`.restartrule`) for one instance.

The monitor applies the rule itself to a run that ends on its own (see
``docs/jobs.md``), and the agent mirrors what it decided (:meth:`RestartTracker.load`);
the agent decides the rest with this tracker: a run it stopped for a failed health check,
a run that could not be spawned, a run whose monitor was replaced. The rules:

- ``never`` restarts nothing; ``on-failure`` restarts a run that failed (non-zero exit,
  killed by a signal, declared unhealthy, or could not be spawned); ``always`` restarts
  every run that ends on its own.
- The delay doubles from ``backoff_seconds`` up to ``max_backoff_seconds``, with jitter
  (as :class:`symphony.actors.Backoff` does); a run that lasted ``reset_after_seconds``
  starts the sequence over (Kubernetes' CrashLoopBackOff).
- With ``max_restarts`` set, a run ending when that many restarts already happened within
  the last ``restart_window_seconds`` makes the instance ``failed``.
"""

from __future__ import annotations

import random
from typing import Any

from symphony.wire import JobRestartPolicy

from .restartrule import POLICY_FIELDS, Decision, Restarts

__all__ = ["RESTART_JITTER", "Decision", "RestartTracker", "policy_fields"]

#: How much restart delays vary at random (±10%), so jobs that crash together do not
#: restart in step. A node setting: job specs do not carry it.
RESTART_JITTER = 0.1


def policy_fields(policy: JobRestartPolicy) -> dict[str, Any]:
    """The policy as the plain mapping the monitor reads."""
    return {name: getattr(policy, name) for name in POLICY_FIELDS}


class RestartTracker(Restarts):
    """The restart history of one instance (owned by its ProcessSupervisor)."""

    def __init__(
        self,
        policy: JobRestartPolicy,
        *,
        jitter: float = RESTART_JITTER,
        rng: random.Random | None = None,
    ) -> None:
        super().__init__(policy_fields(policy), jitter=jitter, rng=rng)
        self.policy = policy
