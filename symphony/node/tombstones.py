"""Tombstones: the instance ids this node was told to stop, kept for a while.

The Conductor's commands can reach a node out of order (a stop overtaking its start
when a deployment is deleted right after it was created) or more than once (repeated
after a reconnect). An instance id is never reused by the Conductor (every incarnation
gets a new one), so once a node was told to stop an id, a start of that id that comes
later is stale and must not run.

Memory is bounded both ways: an entry is forgotten after ``ttl`` seconds (far longer
than any command stays in flight) and at most ``capacity`` are kept (the oldest go
first), so a stream of stops for ids the node never saw costs a fixed amount.

A node keeps two such sets (see :class:`~symphony.node.jobs.ProcessJobs`), because two
kinds of stop reach it:

- a **real stop** (a deployment deleted, scaled down, rescheduled): it may overtake
  the instance's start, and its tombstone is the only thing that keeps that start
  from running later;
- a **forget**: once the Conductor has saved the end of an instance that ended for
  good here, it stops it so that the node forgets it (see
  ``symphony/node/process/ended.py``). That instance ran here, so its start came
  first and no new start of it follows: the Conductor sends a start again only for an
  instance it still has as assigned and not yet reported by the node (after a hello),
  never for one whose end it saved. Its tombstone guards only against a copy of the
  start already under way on the node: sent again after a hello that came while the
  first start still waited in the background (probing its tunnels, waiting for a
  node monitor), it would run the ended job once more after the forget.

Forgets come as often as instances end (a node of short jobs ends thousands an hour),
real stops as often as deployments change. In one set, every forget pushed out the
oldest tombstone of a real stop sooner; kept apart, a real stop's tombstone lasts its
hour or its ``capacity`` of real stops, whatever the number of forgets.

Example::

    stopped = Tombstones(capacity=3, ttl=60.0)
    stopped.add("web-0-3fa9c1", now=0.0)
    assert stopped.contains("web-0-3fa9c1", now=10.0)
    assert not stopped.contains("web-0-3fa9c1", now=61.0)
"""

from __future__ import annotations

from collections import OrderedDict

#: Defaults for a node: an hour covers any reconnect; 10,000 ids cost about a megabyte.
TOMBSTONE_TTL_SECONDS = 3600.0
TOMBSTONES_KEPT = 10_000


class Tombstones:
    """A bounded, expiring set of instance ids (see the module docstring)."""

    def __init__(
        self, *, capacity: int = TOMBSTONES_KEPT, ttl: float = TOMBSTONE_TTL_SECONDS
    ) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        if not ttl > 0:
            raise ValueError("ttl must be a positive number of seconds")
        self.capacity = capacity
        self.ttl = ttl
        self._added: OrderedDict[str, float] = OrderedDict()  # oldest first

    def add(self, instance_id: str, *, now: float) -> None:
        """Remember ``instance_id`` as stopped from ``now`` on (a repeat refreshes it)."""
        self._added.pop(instance_id, None)
        self._added[instance_id] = now
        self._expire(now)
        while len(self._added) > self.capacity:
            self._added.popitem(last=False)

    def contains(self, instance_id: str, *, now: float) -> bool:
        """Whether ``instance_id`` was stopped less than ``ttl`` seconds before ``now``."""
        self._expire(now)
        return instance_id in self._added

    def __len__(self) -> int:
        return len(self._added)

    def _expire(self, now: float) -> None:
        while self._added:
            oldest, added = next(iter(self._added.items()))
            if now - added < self.ttl:
                return
            del self._added[oldest]


__all__ = ["TOMBSTONES_KEPT", "TOMBSTONE_TTL_SECONDS", "Tombstones"]
