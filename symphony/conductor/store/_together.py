"""Instances and the events about them, written in one transaction.

A deployment's supervisor changes instances and notes events about the change while
it handles one message. Writing both in one transaction halves the commits of the
busiest paths (a new deployment's instances, a burst of placements); see
``SupervisorBase._save``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Sequence

from ._base import StoreBase
from ._errors import ConstraintViolation, NotFound
from ._events import insert_events
from ._instances import _UPSERT, _params
from ._records import EventRecord, InstanceRecord, NewEvent


class InstanceEventTable(StoreBase):
    def save_instances_with_events(
        self, records: Iterable[InstanceRecord], events: Sequence[NewEvent]
    ) -> tuple[list[InstanceRecord], list[EventRecord]]:
        """``upsert_instances(records)`` and ``append_events(events)`` in one transaction
        (all or none); returns the instances with ``updated_at`` set and the events with
        their ids."""
        now = self._clock()
        stamped = [dataclasses.replace(r, updated_at=now) for r in records]
        try:
            with self._write() as conn:
                conn.executemany(_UPSERT, [_params(r) for r in stamped])
                recorded = insert_events(conn, events, now)
        except ConstraintViolation as exc:
            if exc.kind == "foreign_key":
                ids = sorted({r.deployment_id for r in stamped})
                raise NotFound(
                    f"an instance or event names a deployment that does not exist (of {ids})"
                ) from None
            raise
        return stamped, recorded
