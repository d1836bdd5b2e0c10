"""Events: append (one or a batch), list with ``after_id`` cursor and limit, prune."""

from __future__ import annotations

import json
import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

from ._base import StoreBase
from ._db import Db, Row
from ._dialect import in_list, json_text
from ._errors import ConstraintViolation, NotFound
from ._records import EventRecord, NewEvent

_COLUMNS = "id, deployment_id, instance_id, at, kind, message, data"


def _record(row: Row) -> EventRecord:
    return EventRecord(
        id=row["id"],
        at=row["at"],
        kind=row["kind"],
        message=row["message"],
        deployment_id=row["deployment_id"],
        instance_id=row["instance_id"],
        data=json.loads(row["data"]),
    )


def _dump(data: Mapping[str, Any]) -> str:
    if not data:  # most events (created, pending, placed): as json.dumps writes it
        return "{}"
    try:
        return json.dumps(dict(data))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"event data must be JSON-able: {exc}") from None


#: Events per INSERT statement: 6 parameters each, well within every backend's limit.
INSERT_CHUNK = 100


def insert_events(conn: Db, events: Sequence[NewEvent], now: float) -> list[EventRecord]:
    """Insert events inside the caller's write transaction; ids follow the given order.

    One statement per :data:`INSERT_CHUNK` events: a group of creates or of saves
    inserts its events together. Ids are handed out in the order of the rows (the
    table's id only grows, and the write transaction holds the table), so the ids a
    statement returns, sorted, are its rows' in order, whatever order they come back in.
    """
    out: list[EventRecord] = []
    for start in range(0, len(events), INSERT_CHUNK):
        chunk = events[start : start + INSERT_CHUNK]
        ats = [now if e.at is None else e.at for e in chunk]
        params: list[object] = []
        for e, at in zip(chunk, ats, strict=True):
            params += (e.deployment_id, e.instance_id, at, e.kind, e.message, _dump(e.data))
        rows = ", ".join(["(?, ?, ?, ?, ?, ?)"] * len(chunk))
        cursor = conn.execute(
            "INSERT INTO events (deployment_id, instance_id, at, kind, message, data) "
            f"VALUES {rows} RETURNING id",
            params,
        )
        ids = sorted(int(row[0]) for row in cursor.fetchall())
        out += (
            EventRecord(
                event_id, at, e.kind, e.message, e.deployment_id, e.instance_id, dict(e.data)
            )
            for event_id, e, at in zip(ids, chunk, ats, strict=True)
        )
    return out


class EventTable(StoreBase):
    def append_event(
        self,
        kind: str,
        message: str,
        *,
        deployment_id: str | None = None,
        instance_id: str | None = None,
        data: Mapping[str, Any] | None = None,
    ) -> EventRecord:
        """Append one event; returns it with its id."""
        event = NewEvent(kind, message, deployment_id, instance_id, data or {})
        return self.append_events([event])[0]

    def append_events(self, events: Sequence[NewEvent]) -> list[EventRecord]:
        """Append many events in one transaction; ids follow the given order."""
        now = self._clock()
        try:
            with self._write() as conn:
                return insert_events(conn, events, now)
        except ConstraintViolation as exc:
            if exc.kind == "foreign_key":
                raise NotFound("an event names a deployment that does not exist") from None
            raise

    def list_events(
        self,
        *,
        deployment_id: str | None = None,
        instance_id: str | None = None,
        after_id: int = 0,
        limit: int = 100,
        newest: bool = False,
        deployment_ids: Sequence[str] | None = None,
    ) -> list[EventRecord]:
        """Events in id order. ``after_id`` pages forward (follow a stream);
        ``newest=True`` gives the last ``limit`` events instead of the first."""
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        where: list[str] = ["id > ?"]
        params: list[object] = [after_id]
        if deployment_id is not None:
            where.append("deployment_id = ?")
            params.append(deployment_id)
        if deployment_ids is not None:  # an experiment's processes
            where.append(f"deployment_id IN ({in_list(deployment_ids)})")
            params.extend(deployment_ids)
        if instance_id is not None:
            where.append("instance_id = ?")
            params.append(instance_id)
        order = "DESC" if newest else "ASC"
        rows = self._read(
            f"SELECT {_COLUMNS} FROM events WHERE {' AND '.join(where)} "
            f"ORDER BY id {order} LIMIT ?",
            [*params, limit],
        )
        records = [_record(r) for r in rows]
        return records[::-1] if newest else records

    def prune_events(self, *, keep_per_deployment: int, before: float | None = None) -> int:
        """Delete all but the newest ``keep_per_deployment`` events of each deployment
        (and as many deployment-less ones), and with ``before`` every event older than
        that time; returns how many were deleted."""
        with self._write() as conn:
            cursor = conn.execute(
                "DELETE FROM events WHERE id IN (SELECT id FROM (SELECT id, ROW_NUMBER() "
                "OVER (PARTITION BY deployment_id ORDER BY id DESC) AS n FROM events) AS ranked "
                "WHERE n > ?)",
                (keep_per_deployment,),
            )
            deleted = cursor.rowcount
            if before is not None:
                deleted += conn.execute("DELETE FROM events WHERE at < ?", (before,)).rowcount
        return deleted

    def restarts_by_minute(self, deployment_id: str, *, since: float) -> dict[float, int]:
        """How many restarts of ``deployment_id``'s instances began in each minute since
        ``since`` (keys: the minute's start, Unix time; minutes without any are absent).

        A restart is a ``restarting`` event; the same one reported twice (a node repeats
        an instance's state after reconnecting) carries the same ``restarts`` count for
        its instance and is counted once.
        """
        restarts = json_text(self._conn.dialect, "data", "restarts")
        rows = self._read(
            "SELECT MIN(at) AS first_at FROM events "
            "WHERE deployment_id = ? AND kind = 'restarting' AND at >= ? "
            "GROUP BY COALESCE(instance_id, ''), "
            f"COALESCE({restarts}, 'event ' || CAST(id AS TEXT))",
            (deployment_id, since),
        )
        # Bucketed here: the engines disagree on how CAST rounds a float to an integer.
        minutes = Counter(math.floor(row["first_at"] / 60) * 60.0 for row in rows)
        return dict(sorted(minutes.items()))
