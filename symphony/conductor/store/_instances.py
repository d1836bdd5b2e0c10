"""Instances: upsert one or many (one transaction), get, list by deployment or node."""

from __future__ import annotations

import dataclasses
import json
import operator
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ._base import StoreBase
from ._counters import add_to_counter
from ._db import Db, Row
from ._dialect import in_list, row_marks
from ._errors import ConstraintViolation, NotFound
from ._events import insert_events
from ._records import EventRecord, InstanceRecord, NewEvent, PlacementNote

_FIELDS = [f.name for f in dataclasses.fields(InstanceRecord)]
_COLUMNS = ", ".join(_FIELDS)
#: A save that would take a stored placement back to no node: the incoming record is
#: pending on no node, the stored one assigned to a node. Only the Scheduler's note
#: (:meth:`InstanceTable.note_placements`) makes such a row, before the supervisor has
#: heard ``Placed``; its in-memory record still says pending, and any save it makes
#: meanwhile (a reason, a spec change carrying the instance) would otherwise erase the
#: placement and reopen the window the note closes. A supervisor never moves an
#: instance from a node back to pending (a pending record is always a new id), so
#: this keeps exactly the notes; a stop or an end (any other state) still wins.
_UNPLACES = (
    "(excluded.state = 'pending' AND excluded.node_id IS NULL "
    "AND instances.state = 'assigned' AND instances.node_id IS NOT NULL)"
)
#: What a note wrote, kept when a save would clear it.
_PLACEMENT = ("node_id", "reservation", "network", "state", "reason")


def _update(name: str) -> str:
    if name in _PLACEMENT:
        return f"{name} = CASE WHEN {_UNPLACES} THEN instances.{name} ELSE excluded.{name} END"
    return f"{name} = excluded.{name}"


_UPSERT = (
    f"INSERT INTO instances ({_COLUMNS}) VALUES ({', '.join('?' for _ in _FIELDS)}) "
    "ON CONFLICT(id) DO UPDATE SET " + ", ".join(_update(n) for n in _FIELDS if n != "id")
)


_VALUES = operator.attrgetter(*_FIELDS)
_RESERVATION, _NETWORK, _DEVICES = (_FIELDS.index(n) for n in ("reservation", "network", "devices"))


_SET = object.__setattr__


def _stamped(record: InstanceRecord, now: float) -> InstanceRecord:
    """``dataclasses.replace(record, updated_at=now)`` at half the cost (every save of
    an instance passes here): the fields copied as they are, already checked when
    ``record`` was made."""
    copy = object.__new__(InstanceRecord)
    for name, value in zip(_FIELDS, _VALUES(record), strict=True):
        _SET(copy, name, value)
    _SET(copy, "updated_at", now)
    return copy


def _params(record: InstanceRecord) -> list[Any]:
    # Every save of an instance passes here (twice per create): the JSON columns are
    # mostly empty, and an empty one is written as json.dumps writes it.
    values = list(_VALUES(record))
    values[_RESERVATION] = json.dumps(dict(record.reservation)) if record.reservation else "{}"
    values[_NETWORK] = json.dumps(dict(record.network)) if record.network else "{}"
    values[_DEVICES] = json.dumps(list(record.devices)) if record.devices else "[]"
    return values


_NOTE_PLACEMENT = (
    "UPDATE instances SET node_id = ?, reservation = ?, network = ?, "
    "state = 'assigned', reason = NULL, updated_at = ? "
    "WHERE id = ? AND node_id IS NULL AND state = 'pending'"
)


#: Instances per INSERT statement: 20 parameters each.
INSERT_CHUNK = 100
_INSERT_MANY = f"INSERT INTO instances ({_COLUMNS}) VALUES "
_ON_CONFLICT = _UPSERT[_UPSERT.index(" ON CONFLICT") :]


def insert_instances(conn: Db, records: Sequence[InstanceRecord]) -> None:
    """Insert or replace instances as given, inside the caller's write transaction: one
    statement per :data:`INSERT_CHUNK` instances (a group's saves), or, should one
    instance come twice, one per instance in order (a statement may not update a row
    twice on PostgreSQL)."""
    if len({r.id for r in records}) != len(records):
        conn.executemany(_UPSERT, [_params(r) for r in records])
        return
    for start in range(0, len(records), INSERT_CHUNK):
        chunk = records[start : start + INSERT_CHUNK]
        params: list[Any] = []
        for record in chunk:
            params += _params(record)
        conn.execute(_INSERT_MANY + row_marks(len(_FIELDS), len(chunk)) + _ON_CONFLICT, params)


def _record(row: Row) -> InstanceRecord:
    values = {name: row[name] for name in _FIELDS}
    values["reservation"] = json.loads(values["reservation"])
    values["network"] = json.loads(values["network"])
    values["devices"] = tuple(json.loads(values["devices"]))
    return InstanceRecord(**values)


class InstanceTable(StoreBase):
    def upsert_instance(self, record: InstanceRecord) -> InstanceRecord:
        """Insert or replace one instance; returns it with ``updated_at`` set."""
        return self.upsert_instances([record])[0]

    def upsert_instances(self, records: Iterable[InstanceRecord]) -> list[InstanceRecord]:
        """Insert or replace many instances in one transaction (all or none)."""
        return self.save_instances_with_events(records, ())[0]

    def save_instances_with_events(
        self,
        records: Iterable[InstanceRecord],
        events: Sequence[NewEvent],
        counters: Mapping[str, int] | None = None,
    ) -> tuple[list[InstanceRecord], list[EventRecord]]:
        """``upsert_instances(records)`` and ``append_events(events)`` in one transaction
        (all or none); returns the instances with ``updated_at`` set and the events with
        their ids. A deployment's supervisor notes events about the instances it changes
        while handling one message: one commit for both halves the commits of the busiest
        paths (a new deployment's instances, a burst of placements). ``counters``: what
        to add to counters in the same transaction (a node's report of a restart)."""
        now = self._clock()
        stamped = [_stamped(r, now) for r in records]
        try:
            with self._write() as conn:
                insert_instances(conn, stamped)
                recorded = insert_events(conn, events, now)
                for name, amount in (counters or {}).items():
                    add_to_counter(conn, name, amount)
        except ConstraintViolation as exc:
            if exc.kind == "foreign_key":
                ids = sorted({r.deployment_id for r in stamped})
                raise NotFound(
                    f"an instance or event names a deployment that does not exist (of {ids})"
                ) from None
            raise
        return stamped, recorded

    def note_placements(self, placements: Sequence[PlacementNote]) -> int:
        """Store, in one transaction, that each instance is ``assigned`` to its node,
        before the node is told to start it; returns how many instances it changed.

        Only an instance still ``pending`` on no node changes: the row stays its
        supervisor's, which stores the same placement when the Scheduler's news reaches
        it, or has meanwhile moved on (stopping it before it was placed, say), and then
        its own save stands. Until that news reaches it, the supervisor's saves of its
        record (still pending on no node) keep the placement noted here (see
        :data:`_UNPLACES`); a save in any other state, a stop, replaces it. What this
        buys is a Conductor killed between the start and the supervisor's save:
        started again, it finds the instance assigned to the node that runs it, adopts
        it there and waits for that node's hello, instead of placing it a second time.
        """
        if not placements:
            return 0
        now = self._clock()
        rows = [
            (
                p.node_id,
                json.dumps(dict(p.reservation)) if p.reservation else "{}",
                json.dumps(dict(p.network)) if p.network else "{}",
                now,
                p.instance_id,
            )
            for p in placements
        ]
        with self._write() as conn:
            return conn.executemany(_NOTE_PLACEMENT, rows)

    def get_instance(self, instance_id: str) -> InstanceRecord | None:
        rows = self._read(f"SELECT {_COLUMNS} FROM instances WHERE id = ?", (instance_id,))
        return _record(rows[0]) if rows else None

    def list_instances(
        self,
        *,
        deployment_id: str | None = None,
        node_id: str | None = None,
        states: Sequence[str] | None = None,
    ) -> list[InstanceRecord]:
        """Instances matching every filter given, by deployment then replica."""
        where, params = [], []
        if deployment_id is not None:
            where.append("deployment_id = ?")
            params.append(deployment_id)
        if node_id is not None:
            where.append("node_id = ?")
            params.append(node_id)
        if states is not None:
            where.append(f"state IN ({in_list(states)})")
            params.extend(states)
        sql = f"SELECT {_COLUMNS} FROM instances"
        if where:
            sql += " WHERE " + " AND ".join(where)
        rows = self._read(sql + " ORDER BY deployment_id, replica, id", params)
        return [_record(r) for r in rows]

    def delete_instances(self, instance_ids: Iterable[str]) -> int:
        """Delete instances by id; returns how many existed."""
        ids = [(i,) for i in instance_ids]
        with self._write() as conn:
            return conn.executemany("DELETE FROM instances WHERE id = ?", ids)
