"""Versions of a deployment's template (rolling updates): keep the last few, mark how
their rolls went, and the deployment's roll state (rolling, canary, promoted, paused).

A version is one template of the spec: a change of the template that no kept version
has makes a new version (the highest number + 1); going back to a kept template (a
rollback, an automatic revert) makes that version current again. Only the last
:data:`KEEP_VERSIONS` (by when they were last current) are kept.
"""

from __future__ import annotations

from symphony.spec import DeploymentSpec, SpecError

from ._base import StoreBase
from ._db import Db, Row
from ._errors import CorruptRecord
from ._records import VersionRecord
from ._specs import spec_text, stored_spec

#: How many versions of each deployment are kept (the current one always is).
KEEP_VERSIONS = 10

_COLUMNS = "deployment_id, version, spec, status, reason, created_at, used_at"


def _record(row: Row) -> VersionRecord:
    try:
        spec = stored_spec(row["spec"])
    except (SpecError, ValueError) as exc:
        raise CorruptRecord(
            f"deployment {row['deployment_id']} version {row['version']}: stored spec does "
            f"not parse: {exc}"
        ) from exc
    return VersionRecord(
        deployment_id=row["deployment_id"],
        version=row["version"],
        spec=spec,
        status=row["status"],
        reason=row["reason"],
        created_at=row["created_at"],
        used_at=row["used_at"],
    )


def use_version(
    conn: Db,
    deployment_id: str,
    version: int,
    spec: DeploymentSpec | str,
    status: str,
    now: float,
    *,
    keep: int | None = KEEP_VERSIONS,
) -> None:
    """Within a write transaction: make ``version`` (with ``spec``, or its JSON text) the
    one last used, then forget the oldest beyond ``keep`` (``None``: none, as for a
    deployment's first version, or a rolling restart's, pruned when its roll ends)."""
    text = spec if isinstance(spec, str) else spec_text(spec)
    conn.execute(
        f"INSERT INTO deployment_versions ({_COLUMNS}) VALUES (?, ?, ?, ?, NULL, ?, ?) "
        "ON CONFLICT(deployment_id, version) DO UPDATE SET spec = excluded.spec, "
        "status = excluded.status, reason = NULL, used_at = excluded.used_at",
        (deployment_id, version, text, status, now, now),
    )
    if keep is not None:
        prune(conn, deployment_id, keep)


#: The statuses of a version whose roll has not ended (``promoted`` and ``reverting``:
#: as stored before a version's status stopped repeating its roll's state).
UNFINISHED = ("rolling", "canary", "promoted", "reverting")


def supersede(conn: Db, deployment_id: str, version: int) -> None:
    """Within a write transaction: ``version``'s roll ends unfinished, a newer change
    (another version, a rollback) took its place: its status says so (``superseded``)
    instead of ``rolling`` or ``canary`` for ever. A good or failed one stays as it is."""
    marks = ", ".join("?" * len(UNFINISHED))
    conn.execute(
        "UPDATE deployment_versions SET status = 'superseded' WHERE deployment_id = ? "
        f"AND version = ? AND status IN ({marks})",
        (deployment_id, version, *UNFINISHED),
    )


def status_made_current(conn: Db, deployment_id: str, version: int, roll_state: str | None) -> str:
    """Within a write transaction: the status ``version`` gets as it becomes current,
    with ``roll_state`` (None: no roll). ``good`` with no roll; else ``rolling``, but a
    kept version already good stays good while a rollback or a revert rolls back to
    it (the deployment's roll state says it rolls): a newer change that cut that roll
    short would otherwise mark it ``superseded``, and a plain rollback, which goes back
    to the last good version, would pass it by. The status tells how a version's roll
    ended, never how one goes (``promoted``, ``reverting``: the roll state says)."""
    if roll_state is None:
        return "good"
    row = conn.execute(
        "SELECT status FROM deployment_versions WHERE deployment_id = ? AND version = ?",
        (deployment_id, version),
    ).fetchone()
    return "good" if row is not None and row["status"] == "good" else "rolling"


def prune(conn: Db, deployment_id: str, keep: int = KEEP_VERSIONS) -> None:
    """Within a write transaction: forget a deployment's versions beyond the ``keep``
    most recently current."""
    conn.execute(
        "DELETE FROM deployment_versions WHERE deployment_id = ? AND version NOT IN "
        "(SELECT version FROM deployment_versions WHERE deployment_id = ? "
        "ORDER BY used_at DESC, version DESC LIMIT ?)",
        (deployment_id, deployment_id, keep),
    )


#: First versions per INSERT statement: 4 parameters each.
INSERT_CHUNK = 100


def first_versions(conn: Db, versions: list[tuple[str, str, float]]) -> None:
    """Within a write transaction: version 1 of each new deployment (``(deployment id,
    spec's JSON text, its creation time)``), counted as good: what ``use_version(conn,
    id, 1, text, "good", created_at, keep=None)`` stores, for many in one statement."""
    for start in range(0, len(versions), INSERT_CHUNK):
        chunk = versions[start : start + INSERT_CHUNK]
        params: list[object] = []
        for deployment_id, text, now in chunk:
            params += (deployment_id, text, now, now)
        rows = ", ".join(["(?, 1, ?, 'good', NULL, ?, ?)"] * len(chunk))
        conn.execute(
            f"INSERT INTO deployment_versions ({_COLUMNS}) VALUES {rows} "
            "ON CONFLICT(deployment_id, version) DO UPDATE SET spec = excluded.spec, "
            "status = excluded.status, reason = NULL, used_at = excluded.used_at",
            params,
        )


class VersionTable(StoreBase):
    def list_versions(self, deployment_id: str) -> list[VersionRecord]:
        """The kept versions of a deployment, the most recently current first."""
        rows = self._read(
            f"SELECT {_COLUMNS} FROM deployment_versions WHERE deployment_id = ? "
            "ORDER BY used_at DESC, version DESC",
            (deployment_id,),
        )
        return [_record(r) for r in rows]

    def set_version_status(
        self,
        deployment_id: str,
        version: int,
        status: str,
        reason: str | None = None,
        *,
        generation: int | None = None,
    ) -> bool:
        """Record how a version's roll went (``good``, ``failed`` with the reason, ...).

        With ``generation``, only while the deployment is still at it (the one the roll
        belongs to); else False and nothing changes: a newer change stored meanwhile
        may roll this very version again (a rollback to it), and a failure of the roll
        before it, read back after a restart, would revert that one."""
        query = (
            "UPDATE deployment_versions SET status = ?, reason = ? "
            "WHERE deployment_id = ? AND version = ?"
        )
        params: tuple[object, ...] = (status, reason, deployment_id, version)
        if generation is not None:
            query += " AND EXISTS (SELECT 1 FROM deployments WHERE id = ? AND generation = ?)"
            params += (deployment_id, generation)
        with self._write() as conn:
            cursor = conn.execute(query, params)
        return cursor.rowcount > 0

    def finish_roll(
        self, deployment_id: str, version: int, forget: list[int], *, generation: int
    ) -> bool:
        """A roll is done, in one transaction: no roll under way, ``version`` good, the
        kept versions ``forget`` forgotten (copies of a template another kept version
        stands for: a rolling restart's predecessor, a failed restart's copy), then
        those beyond :data:`KEEP_VERSIONS` (a restart's version was added without
        pruning). A Conductor stopped half-way leaves the roll under way, to be
        finished again, never a restarted version kept for ever.

        Only while the deployment is still at ``generation`` (the one the roll
        belongs to); else False, and only ``version`` is marked good (it did prove
        healthy): the roll state and the kept versions are the newer change's."""
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE deployments SET roll_state = NULL, roll_reason = NULL, updated_at = ? "
                "WHERE id = ? AND generation = ?",
                (self._clock(), deployment_id, generation),
            )
            conn.execute(
                "UPDATE deployment_versions SET status = 'good', reason = NULL "
                "WHERE deployment_id = ? AND version = ?",
                (deployment_id, version),
            )
            if cursor.rowcount == 0:
                return False
            for old in forget:
                conn.execute(
                    "DELETE FROM deployment_versions WHERE deployment_id = ? AND version = ?",
                    (deployment_id, old),
                )
            prune(conn, deployment_id)
        return True

    def set_roll(
        self, deployment_id: str, state: str | None, reason: str | None = None, *, generation: int
    ) -> bool:
        """The deployment's roll state (None: no roll under way) and why (a change of the
        deployment: ``updated_at`` moves, so the UI's live feed sends it), if it is still
        at ``generation``, the one the roll belongs to; else False and nothing changes:
        a newer change was stored meanwhile, and its roll state is not this roll's."""
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE deployments SET roll_state = ?, roll_reason = ?, updated_at = ? "
                "WHERE id = ? AND generation = ?",
                (state, reason, self._clock(), deployment_id, generation),
            )
        return cursor.rowcount > 0
