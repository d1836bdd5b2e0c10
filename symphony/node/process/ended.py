"""The instances of this node that ended for good, oldest first, and their bound.

An instance *ends for good* when its supervision is over without a stop: it exited and
its restart policy runs it no more (``never``, ``on-failure`` after a success, a
run-to-completion job, a scheduled run), or it failed past its restart budget. The node
keeps such an instance (its supervisor, record and events; it is reported in every
hello) only until the Conductor has recorded its end: the Conductor then stops it,
and a stop of an instance that ended for good forgets it without another word (see
``ProcessManager.stop_instance``). Its log files stay where they are, until the node's
log retention deletes them (:mod:`.loggc`).

Until then it is kept, whatever the time: one that ended while the link was down
reaches the Conductor through the next hello, and that is the only way the Conductor
learns how it ended. Only the bound overrides this: past :data:`ENDED_KEPT` of them
(the Conductor unreachable for weeks, or one too old to stop them), the oldest are
forgotten with a log line, as Nomad's client collects its oldest terminal allocations
past ``gc_max_allocs``.
"""

from __future__ import annotations

import heapq
import logging
from typing import Any

logger = logging.getLogger(__name__)

#: At most this many ended instances are kept on a node, confirmed or not.
ENDED_KEPT = 1000


class EndedInstances:
    """Instance ids that ended for good, with when they ended (wall clock)."""

    def __init__(self, limit: int = ENDED_KEPT) -> None:
        if limit < 1:
            raise ValueError(f"a node must keep at least one ended instance, not {limit}")
        self.limit = limit
        self._ids: dict[str, float] = {}

    def add(self, instance_id: str, at: float) -> list[str]:
        """Note that ``instance_id`` ended at ``at``; returns the ids that ended first
        past the bound, which the caller forgets. By the time of the end, not of the
        noting: an agent's adoption notes those that ended before it came in the order
        of its records, beside those ending meanwhile."""
        self._ids[instance_id] = at
        over = len(self._ids) - self.limit
        if over <= 0:
            return []
        oldest = heapq.nsmallest(over, self._ids, key=self._ids.__getitem__)
        for old in oldest:
            del self._ids[old]
        logger.warning(
            "more than %d instances ended here without the conductor confirming their end"
            " (its link down for long?): forgetting the oldest, %s (its logs stay)",
            self.limit,
            ", ".join(oldest),
        )
        return oldest

    def discard(self, instance_id: str) -> None:
        self._ids.pop(instance_id, None)

    def clear(self) -> None:
        self._ids.clear()

    def __contains__(self, instance_id: object) -> bool:
        return instance_id in self._ids

    def __len__(self) -> int:
        return len(self._ids)


def ended_at(outcome: dict[str, Any] | None) -> float:
    """When an instance's last run ended, by its record's outcome (0 if it says not)."""
    finished = (outcome or {}).get("finished_at")
    return float(finished) if isinstance(finished, int | float) else 0.0
