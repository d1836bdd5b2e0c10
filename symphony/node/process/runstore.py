"""The monitor's durable record of every job run: ``<state_dir>/runs/<run_id>.json``.

One small JSON file per run, replaced atomically (write a temporary file, rename it over
the old one). The record of a *start* is written without fsync: if the machine crashes
the job is gone anyway. The record of an *exit* is fsynced (file and directory) within
the same monitor loop iteration, batched with the other exits of that iteration
(:meth:`RunStore.sync`), right after the exit is announced to a connected agent: a
restart then does not wait for the disk, and an exit nobody has heard of yet is on disk
before the monitor does anything else.
A record is deleted when the agent acknowledges the exit, so the directory holds only
live runs and exits not yet reported.
"""

from __future__ import annotations

import contextlib
import json
import os
from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(slots=True)
class Run:
    """One execution of one instance's command (mutable: owned by the monitor loop)."""

    run_id: str
    instance_id: str
    pid: int
    start_ticks: int
    started_at: float
    stdout: str
    stderr: str
    log_max_bytes: int
    log_backups: int
    grace: float
    meta: dict[str, Any] = field(default_factory=dict)
    state: str = "running"  # running | ending (leader gone, leftovers dying) | ended
    exit_code: int | None = None
    signal: int | None = None
    ended_at: float | None = None
    reason: str | None = None
    #: What the monitor decided when the run ended on its own (see ``monitor``): the
    #: restart rule's decision, its state after it, and the run that restarted it.
    decision: dict[str, Any] | None = None

    def public(self) -> dict[str, Any]:
        """The record as sent to the agent and written to disk (a new mapping; the
        nested ones are shared: nothing changes them once the run has them)."""
        return {name: getattr(self, name) for name in _FIELDS}


_FIELDS = tuple(f.name for f in fields(Run))


class RunStore:
    """Reads and writes run records in one directory."""

    def __init__(self, directory: str) -> None:
        self.directory = directory
        os.makedirs(directory, mode=0o700, exist_ok=True)

    def _path(self, run_id: str) -> str:
        return os.path.join(self.directory, f"{run_id}.json")

    def save(self, run: Run, *, durable: bool) -> None:
        """Write ``run`` atomically; with ``durable`` it is on disk when this returns."""
        path = self._path(run.run_id)
        temporary = path + ".tmp"
        data = json.dumps(run.public()).encode()  # one write, not json.dump's many
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o666)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            if durable:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
        if durable:
            directory = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
            try:
                os.fsync(directory)
            finally:
                os.close(directory)

    def sync(self, run_ids: list[str]) -> None:
        """fsync the records of ``run_ids`` (those still present) and the directory once."""
        for run_id in run_ids:
            try:
                fd = os.open(self._path(run_id), os.O_RDONLY | os.O_CLOEXEC)
            except FileNotFoundError:
                continue  # already acknowledged and deleted
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
        directory = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def delete(self, run_id: str) -> None:
        """Forget a run (its exit has been reported)."""
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(run_id))

    def load_all(self) -> list[Run]:
        """Every readable record; unreadable ones (a torn temp file) are skipped."""
        runs = []
        for name in sorted(os.listdir(self.directory)):
            if not name.endswith(".json"):
                continue
            try:
                with open(os.path.join(self.directory, name)) as f:
                    runs.append(Run(**json.load(f)))
            except (OSError, ValueError, TypeError):
                continue
        return runs
