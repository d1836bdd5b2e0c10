"""Experiments: the experiment's spec, and its processes' deployments in one transaction.

An experiment is stored with all its process deployments at once, or not at all: a
taken name (the experiment's, or a process's deployment's) leaves nothing behind.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import TYPE_CHECKING

from symphony.spec import SpecError

from ._base import StoreBase
from ._db import Row
from ._deployments import READ_COLUMNS, deployment_record, insert_deployment
from ._errors import ConstraintViolation, CorruptRecord, NameConflict, NotFound
from ._records import DeploymentRecord, ExperimentRecord, ordered_id

if TYPE_CHECKING:
    from symphony.spec import DeploymentSpec, ExperimentSpec


class ExperimentNameConflict(NameConflict):
    """Another experiment has that name."""

    def __init__(self, name: str) -> None:
        self.name = name
        Exception.__init__(self, f"an experiment named {name!r} exists already; choose another")


@functools.lru_cache(maxsize=256)
def _spec(text: str) -> ExperimentSpec:
    from symphony.spec import parse_experiment  # with the first experiment read

    return parse_experiment(json.loads(text))[0]


def _record(row: Row) -> ExperimentRecord:
    try:
        spec = _spec(row["spec"])
    except (SpecError, ValueError) as exc:
        raise CorruptRecord(f"experiment {row['name']}: stored spec does not parse: {exc}") from exc
    return ExperimentRecord(row["name"], spec, row["created_at"], row["updated_at"])


class ExperimentTable(StoreBase):
    def create_experiment(
        self, spec: ExperimentSpec, processes: Sequence[DeploymentSpec]
    ) -> tuple[ExperimentRecord, list[DeploymentRecord]]:
        """Store an experiment and its process deployments, atomically.

        Raises :class:`ExperimentNameConflict` (or :class:`NameConflict` for a process's
        deployment name); nothing is stored then."""
        now = self._clock()
        record = ExperimentRecord(spec.name, spec, now, now)
        deployments = [
            DeploymentRecord(ordered_id("d", now), p.name, p, 1, now, now) for p in processes
        ]
        with self._write() as conn:
            try:
                conn.execute(
                    "INSERT INTO experiments (name, spec, created_at, updated_at) "
                    "VALUES (?, ?, ?, ?)",
                    (spec.name, json.dumps(spec.to_dict()), now, now),
                )
            except ConstraintViolation as exc:
                if exc.kind != "unique":
                    raise
                raise ExperimentNameConflict(spec.name) from None
            for deployment in deployments:
                insert_deployment(conn, deployment)
        return record, deployments

    def get_experiment(self, name: str) -> ExperimentRecord | None:
        rows = self._read("SELECT * FROM experiments WHERE name = ?", (name,))
        return _record(rows[0]) if rows else None

    def list_experiments(self) -> list[ExperimentRecord]:
        """Every experiment, oldest first."""
        rows = self._read("SELECT * FROM experiments ORDER BY created_at, name")
        return [_record(r) for r in rows]

    def update_experiment(self, spec: ExperimentSpec) -> ExperimentRecord:
        """Replace an experiment's own spec (its processes are updated one by one)."""
        now = self._clock()
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE experiments SET spec = ?, updated_at = ? WHERE name = ?",
                (json.dumps(spec.to_dict()), now, spec.name),
            )
            if cursor.rowcount == 0:
                raise NotFound(f"no experiment {spec.name!r}")
        record = self.get_experiment(spec.name)
        assert record is not None
        return record

    def delete_experiment(self, name: str) -> bool:
        """Delete the experiment's own row (its process deployments are deleted first,
        by their owners); False if it did not exist."""
        with self._write() as conn:
            cursor = conn.execute("DELETE FROM experiments WHERE name = ?", (name,))
        return cursor.rowcount > 0

    def experiment_deployments(self, name: str) -> list[DeploymentRecord]:
        """The process deployments of experiment ``name``, in the spec's order."""
        prefix = f"{name}."
        rows = self._read(
            f"SELECT {READ_COLUMNS} FROM deployments WHERE substr(name, 1, ?) = ? "
            "ORDER BY created_at, id",
            (len(prefix), prefix),
        )
        found = [deployment_record(r) for r in rows]
        owned = [d for d in found if d.spec.experiment and d.spec.experiment.name == name]
        experiment = self.get_experiment(name)
        if experiment is None:
            return owned
        order = {proc.name: i for i, (_, proc) in enumerate(experiment.spec.members())}
        return sorted(owned, key=lambda d: order.get(d.name.partition(".")[2], len(order)))
