"""Rescheduling of failed replicas: the bookkeeping of one DeploymentSupervisor (pure).

A replica whose instance ``failed`` (its node spent the restart budget, or the process
could not be spawned) gets a new instance after a delay, preferring another node:

    attempt 1 after ``delay_seconds``, attempt 2 after twice that, ... capped at
    ``max_delay_seconds``, up to ``attempts`` times (``reschedule`` in the spec), each
    delay spread by +-10 % (:data:`JITTER`) so that replicas that failed together do not
    come back in step. The delays are those of :class:`symphony.actors.Backoff`.

When a replica fails once more after its last attempt, the deployment is ``failed``
(with the reason) and stops trying; starting it again (``desired_state: running``)
clears the count and starts every replica afresh. A node that was *lost* is not a
failure of the job: its instances are replaced at once and count no attempt.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from symphony.actors import Backoff

if TYPE_CHECKING:
    from symphony.spec import Reschedule

#: The relative spread of each reschedule delay (see :class:`~symphony.actors.Backoff`).
JITTER = 0.1


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do about a failed replica: retry after ``delay`` or give up (delay None)."""

    replica: int
    attempt: int  # 1-based number of this attempt, or the attempts spent when giving up
    attempts: int  # the policy's maximum
    delay: float | None
    avoid: frozenset[str]

    @property
    def gives_up(self) -> bool:
        return self.delay is None


@dataclass
class Retries:
    """Per-replica reschedule state; the supervisor feeds it events and asks it questions."""

    spent: dict[int, int] = field(default_factory=dict)  # attempts used per replica
    waiting: set[int] = field(default_factory=set)  # delay running
    due: set[int] = field(default_factory=set)  # delay over: make a new instance
    avoid: dict[int, frozenset[str]] = field(default_factory=dict)
    gave_up: set[int] = field(default_factory=set)
    rng: random.Random | None = None  # the jitter's source (tests pass a seeded one)

    def failed(self, replica: int, node_id: str | None, policy: Reschedule) -> Decision:
        """A replica's instance failed: decide (and remember) what happens next."""
        attempt = self.spent.get(replica, 0)
        avoid = frozenset({node_id}) if node_id else frozenset()
        if attempt >= policy.attempts:
            self.gave_up.add(replica)
            return Decision(replica, attempt, policy.attempts, None, avoid)
        delay = backoff_of(policy).delay(attempt, rng=self.rng)
        self.spent[replica] = attempt + 1
        self.waiting.add(replica)
        return Decision(replica, attempt + 1, policy.attempts, delay, avoid)

    def elapsed(self, replica: int, attempt: int, avoid: frozenset[str]) -> None:
        """The delay of ``attempt`` is over: the replica gets a new instance at the next
        reconcile (a timer of an attempt made before a reset is ignored)."""
        if replica in self.waiting and self.spent.get(replica) == attempt:
            self.waiting.discard(replica)
            self.due.add(replica)
            self.avoid[replica] = avoid

    def blocks(self, replica: int) -> bool:
        """True while the replica must not get a new instance (waiting, or given up)."""
        return replica in self.waiting or replica in self.gave_up

    def created(self, replica: int) -> None:
        """A new instance was made for ``replica``."""
        self.due.discard(replica)

    def reset(self) -> None:
        """Start afresh (the deployment was started again)."""
        self.spent.clear()
        self.waiting.clear()
        self.due.clear()
        self.gave_up.clear()


def backoff_of(policy: Reschedule) -> Backoff:
    """The delays of a spec's ``reschedule`` policy (a ``max_delay_seconds`` below
    ``delay_seconds`` caps every delay at it, as it always did)."""
    ceiling = policy.max_delay_seconds
    return Backoff(
        initial=min(policy.delay_seconds, ceiling),
        factor=2.0,
        max=ceiling,
        jitter=JITTER,
        reset_after=0.0,  # unused: a reschedule's count is reset by a fresh start only
    )
