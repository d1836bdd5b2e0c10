"""The restart rule itself, in the standard library only: policy, backoff and budget.

Both sides of a node use it: the monitor (``monitor``), which restarts a run that ended
on its own the moment it reaps it, without asking anyone, and the agent's
:class:`~.restart.RestartTracker`, which decides whatever the monitor does not (a run
the agent stopped or found unhealthy, a run that could not be spawned, a run whose
monitor was replaced). Their bookkeeping travels between them as a small state
(:meth:`Restarts.export`, :meth:`Restarts.load`), so that the one that decides next
continues the same sequence: the monitor gets it with every spawn, the agent gets the
monitor's with every decision the monitor made. The monitor imports no Trio, so this
module does not either; the delay follows :class:`symphony.actors.Backoff` (factor 2).

Clocks differ between the two processes (the agent's is Trio's), so the recent restarts
travel as ages (seconds before the moment the state was exported), not as times.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

# Not typing (about 0.8 MiB the long-lived monitor would keep): see .lighttuple.
TYPE_CHECKING = False
if TYPE_CHECKING:
    import random
    from typing import Any, Literal, NamedTuple
else:
    from .lighttuple import NamedTuple

#: The policy's fields, as the spec names them (``JobRestartPolicy``).
POLICY_FIELDS = (
    "type",
    "backoff_seconds",
    "max_backoff_seconds",
    "reset_after_seconds",
    "restart_window_seconds",
    "max_restarts",
)
_TYPES = ("always", "on-failure", "never")


class Decision(NamedTuple):  # not a dataclass: see ProcInfo in .proctree
    """What to do after a run ended: restart after ``delay``, or settle in ``state``."""

    restart: bool
    delay: float = 0.0
    state: Literal["exited", "failed"] = "exited"  # when not restarting
    reason: str | None = None

    def public(self) -> dict[str, Any]:
        return {
            "restart": self.restart,
            "delay": self.delay,
            "state": self.state,
            "reason": self.reason,
        }

    @classmethod
    def from_public(cls, data: Mapping[str, Any]) -> Decision:
        """The decision sent by the monitor (ValueError if it is not one)."""
        restart, delay, state = data.get("restart"), data.get("delay"), data.get("state")
        reason = data.get("reason")
        if not isinstance(restart, bool) or state not in ("exited", "failed"):
            raise ValueError("not a restart decision")
        if isinstance(delay, bool) or not isinstance(delay, int | float) or not delay >= 0:
            raise ValueError("a restart decision's delay must be a number >= 0")
        if reason is not None and not isinstance(reason, str):
            raise ValueError("a restart decision's reason must be text")
        return cls(restart=restart, delay=float(delay), state=state, reason=reason)


def check_policy(policy: Any) -> dict[str, Any]:
    """``policy`` as a mapping of :data:`POLICY_FIELDS` (ValueError if it is not one)."""
    if not isinstance(policy, Mapping) or policy.get("type") not in _TYPES:
        raise ValueError("restart policy must name a type: always, on-failure or never")
    out: dict[str, Any] = {"type": policy["type"]}
    for name in POLICY_FIELDS[1:5]:
        value = policy.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ValueError(f"restart policy {name} must be a number >= 0")
        out[name] = float(value)
    limit = policy.get("max_restarts")
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise ValueError("restart policy max_restarts must be an int >= 0 or null")
    out["max_restarts"] = limit
    return out


class Restarts:
    """The restart history of one instance and the rule applied to it.

    Pure bookkeeping, no I/O and no clock of its own (the caller passes ``now``):

    - ``never`` restarts nothing; ``on-failure`` restarts a run that failed (non-zero
      exit, killed by a signal, declared unhealthy, or could not be spawned);
      ``always`` restarts every run that ends on its own.
    - The delay doubles from ``backoff_seconds`` up to ``max_backoff_seconds``, scaled
      by a random factor within ``1 ± jitter`` (capped again); a run that lasted
      ``reset_after_seconds`` starts the sequence over (Kubernetes' CrashLoopBackOff).
    - With ``max_restarts`` set, a run ending when that many restarts already happened
      within the last ``restart_window_seconds`` makes the instance ``failed``.
    """

    def __init__(
        self, policy: Mapping[str, Any], *, jitter: float, rng: random.Random | None = None
    ) -> None:
        self.rule = check_policy(policy)
        self.jitter = min(1.0, max(0.0, float(jitter)))
        self._rng = rng
        self.attempt = 0  # restarts in a row since the last stable run
        self._recent: deque[float] = deque()  # when the restarts in the window happened
        self.restarts = 0

    def delay(self, attempt: int) -> float:
        """The jittered delay before the ``attempt``-th restart in a row (from 0)."""
        initial: float = self.rule["backoff_seconds"]
        cap: float = self.rule["max_backoff_seconds"]
        if initial == 0:
            return 0.0
        try:
            base = min(cap, initial * 2.0**attempt)
        except OverflowError:
            base = cap
        if self.jitter == 0:
            return base
        import random  # a jittered delay, not the monitor's start, loads it

        return min(cap, base * (self._rng or random).uniform(1 - self.jitter, 1 + self.jitter))

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
        rule = self.rule
        if runtime >= rule["reset_after_seconds"]:
            self.attempt = 0
        wanted = rule["type"] == "always" or (rule["type"] == "on-failure" and failed)
        if not wanted:
            return Decision(
                restart=False, state="failed" if spawn_error else "exited", reason=reason
            )
        window_start = now - rule["restart_window_seconds"]
        while self._recent and self._recent[0] <= window_start:
            self._recent.popleft()
        limit = rule["max_restarts"]
        if limit is not None and len(self._recent) >= limit:
            return Decision(
                restart=False,
                state="failed",
                reason=f"restart budget spent: {len(self._recent)} restarts within "
                f"{rule['restart_window_seconds']:g}s (max_restarts={limit})"
                + (f"; last: {reason}" if reason else ""),
            )
        self._recent.append(now)
        # Only the budget reads these, and only the last ``limit`` of them: the older
        # ones leave the window first. Keeping more would grow the state the monitor and
        # the agent hand each other with every restart (a list of every restart so far).
        while len(self._recent) > (limit or 0):
            self._recent.popleft()
        self.restarts += 1
        delay = self.delay(self.attempt)
        self.attempt += 1
        return Decision(restart=True, delay=delay, reason=reason)

    def export(self, now: float) -> dict[str, Any]:
        """The state to hand to the other side (see the module docstring)."""
        return {
            "restarts": self.restarts,
            "attempt": self.attempt,
            "recent_ages": [max(0.0, now - at) for at in self._recent],
        }

    def load(self, state: Any, now: float) -> None:
        """Continue from the other side's ``state``; a malformed one changes nothing."""
        if not isinstance(state, Mapping):
            return
        restarts, attempt, ages = (
            state.get("restarts"),
            state.get("attempt"),
            state.get("recent_ages"),
        )
        if not all(
            isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in (restarts, attempt)
        ):
            return
        if not isinstance(ages, list) or not all(
            isinstance(a, int | float) and not isinstance(a, bool) and a >= 0 for a in ages
        ):
            return
        self.restarts, self.attempt = int(restarts or 0), int(attempt or 0)
        self._recent = deque(sorted(now - age for age in ages[-10_000:]))


def rule_of_plan(plan: Any, now: float) -> Restarts:
    """The rule a spawn request's ``restart`` describes: its policy, jitter and the state
    so far (ValueError if it is not one)."""
    if not isinstance(plan, dict):
        raise ValueError("restart must be an object: policy, jitter, state")
    jitter = plan.get("jitter", 0.0)
    if isinstance(jitter, bool) or not isinstance(jitter, int | float) or not 0 <= jitter <= 1:
        raise ValueError("restart jitter must be a number from 0 to 1")
    rule = Restarts(check_policy(plan.get("policy")), jitter=jitter)
    rule.load(plan.get("state"), now)
    return rule
