"""The Scheduler's book of gangs: when an experiment's members may be planned together.

An experiment's processes are deployments whose supervisors each ask the Scheduler to
place their own instance, one message each. The Scheduler holds the members of a gang
until it has seen every process of the experiment (its ``size``), then plans the queued
members as one gang (:func:`~symphony.conductor.placement.plan_gang`): whole, or not at
all. Once part of a gang holds capacity (a node was lost, a process is rescheduled),
the members queued again are planned at once, as their own gang, since the others
already run.

Members are counted by deployment id. A gang with nothing queued and nothing placed is
idle (stopped, deleted): what was seen of it is forgotten, so an experiment created
again under the same name waits for all of its new processes.

This is plain state owned by the Scheduler actor; it does no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..placement import PendingInstance


class Gangs:
    """Which members of each gang were seen and which hold capacity."""

    def __init__(self) -> None:
        self._seen: dict[str, set[str]] = {}  # gang -> deployment ids since it was idle
        self._placed: dict[str, dict[str, str]] = {}  # gang -> instance id -> deployment id
        self._gang_of: dict[str, str] = {}  # placed instance id -> its gang

    def arrived(self, member: PendingInstance, queued: Iterable[PendingInstance]) -> None:
        """``member`` was queued; ``queued`` are the gang's members queued before it."""
        gang = member.gang
        assert gang is not None
        if not self._placed.get(gang) and not any(True for _ in queued):
            self._seen.pop(gang, None)  # idle until now: start counting afresh
        self._seen.setdefault(gang, set()).add(member.deployment_id)

    def waiting_for(self, gang: str, size: int, queued: list[PendingInstance]) -> int:
        """How many processes the gang still waits for before it may be planned (0: go)."""
        if self._placed.get(gang):
            return 0  # the rest runs already: place the queued ones now
        known = self._seen.get(gang, set()) | {m.deployment_id for m in queued}
        return max(0, size - len(known))

    def placed(self, gang: str, instance_id: str, deployment_id: str) -> None:
        """A member got (or, restored, already holds) capacity."""
        self._placed.setdefault(gang, {})[instance_id] = deployment_id
        self._seen.setdefault(gang, set()).add(deployment_id)
        self._gang_of[instance_id] = gang

    def released(self, instance_id: str) -> str | None:
        """A member's capacity was released (it ended, or its node was lost). Its gang
        if none of it holds capacity any more (deleted, stopped, or all lost)."""
        gang = self._gang_of.pop(instance_id, None)
        if gang is not None:
            placed = self._placed.get(gang, {})
            placed.pop(instance_id, None)
            if not placed:
                self._placed.pop(gang, None)
                return gang
        return None
