"""Deployments: create, get by id or name, list, update (generation + 1), delete."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence

from symphony.spec import DeploymentSpec, SpecError

from ._base import StoreBase
from ._db import Db, Row
from ._dialect import row_marks
from ._errors import (
    AlreadyExists,
    ConstraintViolation,
    CorruptRecord,
    GenerationConflict,
    NameConflict,
    NotFound,
)
from ._events import insert_events
from ._instances import insert_instances
from ._records import DeploymentRecord, EventRecord, InstanceRecord, NewEvent, ordered_id
from ._specs import spec_text, stored_spec
from ._versions import (
    KEEP_VERSIONS,
    first_versions,
    status_made_current,
    supersede,
    use_version,
)

_COLUMNS = "id, name, spec, generation, created_at, updated_at"
READ_COLUMNS = f"{_COLUMNS}, failure, version, roll_state, roll_reason, fresh_generation"
#: What ``create_deployments_noted(first=...)`` stores with a new deployment: its first
#: instances and the events about them.
First = tuple[Sequence[InstanceRecord], Sequence[NewEvent]]


def deployment_record(row: Row) -> DeploymentRecord:
    try:
        spec = stored_spec(row["spec"])
    except (SpecError, ValueError) as exc:
        raise CorruptRecord(f"deployment {row['id']}: stored spec does not parse: {exc}") from exc
    return DeploymentRecord(
        id=row["id"],
        name=row["name"],
        spec=spec,
        generation=row["generation"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        failure=row["failure"],
        version=row["version"],
        roll_state=row["roll_state"],
        roll_reason=row["roll_reason"],
        fresh_generation=row["fresh_generation"],
    )


def _is_name_conflict(exc: ConstraintViolation) -> bool:
    return exc.kind == "unique" and exc.columns == "deployments.name"


def _row(record: DeploymentRecord, text: str) -> tuple[object, ...]:
    """A new deployment's values for ``_COLUMNS, desired_state`` (``text``: its spec's)."""
    spec = record.spec
    return (
        record.id,
        spec.name,
        text,
        record.generation,
        record.created_at,
        record.updated_at,
        spec.desired_state,
    )


def insert_deployment(conn: Db, record: DeploymentRecord) -> None:
    """Insert one new deployment inside the caller's write transaction."""
    text = spec_text(record.spec)
    try:
        conn.execute(
            f"INSERT INTO deployments ({_COLUMNS}, desired_state) VALUES (?, ?, ?, ?, ?, ?, ?)",
            _row(record, text),
        )
    except ConstraintViolation as exc:
        if _is_name_conflict(exc):
            raise NameConflict(record.spec.name) from None
        if exc.kind != "unique":
            raise
        raise AlreadyExists(f"deployment id {record.id!r} exists already") from None
    # Its template is version 1 (rolling updates), counted as good.
    use_version(conn, record.id, 1, text, "good", record.created_at, keep=None)


#: Deployments per INSERT statement of a group: 7 parameters each.
INSERT_CHUNK = 100
_INSERT_MANY = f"INSERT INTO deployments ({_COLUMNS}, desired_state) VALUES "


def insert_deployments(conn: Db, records: Sequence[DeploymentRecord]) -> None:
    """Insert new deployments with their first versions inside the caller's write
    transaction: one statement per :data:`INSERT_CHUNK` deployments, not two per
    deployment. A name or an id already taken raises the statement's
    :class:`ConstraintViolation`, which does not say which row: the caller starts again
    row by row (after the transaction rolled back, as PostgreSQL needs)."""
    texts = [spec_text(r.spec) for r in records]
    for start in range(0, len(records), INSERT_CHUNK):
        chunk = records[start : start + INSERT_CHUNK]
        params: list[object] = []
        for record, text in zip(chunk, texts[start : start + INSERT_CHUNK], strict=True):
            params += _row(record, text)
        conn.execute(_INSERT_MANY + row_marks(7, len(chunk)), params)
    # Their templates are version 1 (rolling updates), counted as good.
    first_versions(conn, [(r.id, t, r.created_at) for r, t in zip(records, texts, strict=True)])


class DeploymentTable(StoreBase):
    def create_deployment(
        self, spec: DeploymentSpec, *, deployment_id: str | None = None
    ) -> DeploymentRecord:
        """Store a new deployment (generation 1). Raises :class:`NameConflict`."""
        record = self._new_deployment(spec, deployment_id)
        with self._write() as conn:
            insert_deployment(conn, record)
        return record

    def create_deployments(self, specs: Sequence[DeploymentSpec]) -> list[DeploymentRecord]:
        """Store several new deployments in one transaction: all of them or none.

        One commit for the lot is what lets a burst of creates share the cost of a
        durable write. Raises :class:`NameConflict` (nothing stored) if any name is
        taken, by a stored deployment or by an earlier one of ``specs``.
        """
        return self.create_deployments_noted(specs)[0]

    def create_deployments_noted(
        self,
        specs: Sequence[DeploymentSpec],
        note: Callable[[DeploymentRecord], NewEvent] | None = None,
        first: Callable[[DeploymentRecord], First] | None = None,
    ) -> tuple[list[DeploymentRecord], list[EventRecord]]:
        """:meth:`create_deployments`, with the event ``note`` makes of each new
        deployment inserted in the same transaction: a create costs one commit, not two.
        ``first`` gives each new deployment's first instances (stored as given) and the
        events about them, stored in that transaction too, after every ``note``.
        Returns the deployments and the events (with their ids, in the same order)."""
        records = [self._new_deployment(spec, None) for spec in specs]
        if not records:
            return [], []
        now = records[0].created_at
        noted = [note(r) for r in records] if note else []
        instances: list[InstanceRecord] = []
        for made, about in map(first, records) if first else ():
            instances.extend(made)
            noted.extend(about)
        if len({r.name for r in records}) == len(records):
            try:
                with self._write() as conn:
                    insert_deployments(conn, records)
                    if instances:
                        insert_instances(conn, instances)
                    return records, insert_events(conn, noted, now)
            except ConstraintViolation as exc:
                if exc.kind != "unique":
                    raise
                # Rolled back. Row by row, to name the conflict (or meet it again).
        with self._write() as conn:
            for record in records:
                insert_deployment(conn, record)
            if instances:
                insert_instances(conn, instances)
            events = insert_events(conn, noted, now)
        return records, events

    def taken_names(self, names: Iterable[str]) -> set[str]:
        """Which of ``names`` stored deployments already carry."""
        wanted = list(dict.fromkeys(names))
        taken: set[str] = set()
        for start in range(0, len(wanted), 500):  # well under SQLite's bound-variable cap
            chunk = wanted[start : start + 500]
            marks = ", ".join("?" * len(chunk))
            rows = self._read(f"SELECT name FROM deployments WHERE name IN ({marks})", chunk)
            taken.update(row["name"] for row in rows)
        return taken

    def _new_deployment(self, spec: DeploymentSpec, deployment_id: str | None) -> DeploymentRecord:
        now = self._clock()
        return DeploymentRecord(deployment_id or ordered_id("d", now), spec.name, spec, 1, now, now)

    def get_deployment(self, id_or_name: str) -> DeploymentRecord | None:
        """By id, else by name (ids contain ``_``, names cannot, so they never clash)."""
        rows = self._read(
            f"SELECT {READ_COLUMNS} FROM deployments WHERE id = ? OR name = ? "
            "ORDER BY id = ? DESC LIMIT 1",
            (id_or_name, id_or_name, id_or_name),
        )
        return deployment_record(rows[0]) if rows else None

    def list_deployments(self, *, desired_state: str | None = None) -> list[DeploymentRecord]:
        """All deployments, oldest first."""
        if desired_state is None:
            rows = self._read(f"SELECT {READ_COLUMNS} FROM deployments ORDER BY created_at, id")
        else:
            rows = self._read(
                f"SELECT {READ_COLUMNS} FROM deployments WHERE desired_state = ? "
                "ORDER BY created_at, id",
                (desired_state,),
            )
        return [deployment_record(r) for r in rows]

    def update_deployment(
        self,
        deployment_id: str,
        spec: DeploymentSpec,
        *,
        expected_generation: int | None = None,
        version: int | None = None,
        roll_state: str | None = None,
        roll_reason: str | None = None,
        forget: int | None = None,
        keep: int | None = KEEP_VERSIONS,
    ) -> DeploymentRecord:
        """Replace the spec and bump the generation (a start, from stopped to running,
        makes it the deployment's ``fresh_generation``).

        With ``expected_generation`` the update happens only if nobody changed the
        deployment since the caller read it (else :class:`GenerationConflict`).
        With ``version`` (a new template, or a kept one made current again) the
        deployment runs that version from now on, with ``roll_state`` and its reason,
        and the version is kept (marked ``good`` when no roll is under way, else
        ``rolling`` unless it is good already: see :func:`status_made_current`); the
        version whose roll it ends unfinished is ``superseded``.
        With ``forget`` that kept version is forgotten in the same transaction (a
        rollback that ends a rolling restart: the restart's copy of the template).
        The versions beyond ``keep`` are forgotten (``None``: none, a rolling restart's
        version: its roll's end prunes).
        """
        now = self._clock()
        try:
            with self._write() as conn:
                row = conn.execute(
                    f"SELECT {READ_COLUMNS}, desired_state FROM deployments WHERE id = ?",
                    (deployment_id,),
                ).fetchone()
                if row is None:
                    raise NotFound(f"no deployment {deployment_id!r}")
                if expected_generation is not None and row["generation"] != expected_generation:
                    raise GenerationConflict(
                        f"deployment {deployment_id!r} is at generation {row['generation']}, "
                        f"not {expected_generation}: it changed meanwhile; read it again"
                    )
                generation = row["generation"] + 1
                fresh = row["fresh_generation"]
                if row["desired_state"] == "stopped" and spec.desired_state == "running":
                    fresh = generation  # started: what ran before is not carried over
                if version is None:
                    version = row["version"]
                    roll_state, roll_reason = row["roll_state"], row["roll_reason"]
                else:
                    if row["roll_state"] is not None and version != row["version"]:
                        supersede(conn, deployment_id, row["version"])
                    status = status_made_current(conn, deployment_id, version, roll_state)
                    if forget is not None:
                        conn.execute(
                            "DELETE FROM deployment_versions WHERE deployment_id = ? "
                            "AND version = ?",
                            (deployment_id, forget),
                        )
                    use_version(conn, deployment_id, version, spec, status, now, keep=keep)
                conn.execute(
                    "UPDATE deployments SET name = ?, spec = ?, desired_state = ?, "
                    "generation = ?, updated_at = ?, version = ?, roll_state = ?, "
                    "roll_reason = ?, fresh_generation = ? WHERE id = ?",
                    (
                        spec.name,
                        spec_text(spec),
                        spec.desired_state,
                        generation,
                        now,
                        version,
                        roll_state,
                        roll_reason,
                        fresh,
                        deployment_id,
                    ),
                )
        except ConstraintViolation as exc:
            if _is_name_conflict(exc):
                raise NameConflict(spec.name) from None
            raise
        return DeploymentRecord(
            deployment_id,
            spec.name,
            spec,
            generation,
            row["created_at"],
            now,
            row["failure"],
            version,
            roll_state,
            roll_reason,
            fresh,
        )

    def set_deployment_failure(
        self, deployment_id: str, failure: str | None
    ) -> DeploymentRecord | None:
        """Mark a deployment failed (``failure`` says why) or not (None); the spec and its
        generation stay as they are. Returns the record, or None if it does not exist."""
        with self._write() as conn:
            conn.execute(
                "UPDATE deployments SET failure = ?, updated_at = ? WHERE id = ?",
                (failure, self._clock(), deployment_id),
            )
        return self.get_deployment(deployment_id)

    def delete_deployment(self, deployment_id: str) -> bool:
        """Delete it with its instances and events; False if it did not exist."""
        with self._write() as conn:
            cursor = conn.execute("DELETE FROM deployments WHERE id = ?", (deployment_id,))
        return cursor.rowcount > 0
