"""The monitor's durable record of every job run: ``<state_dir>/runs/<run_id>.json``.

One small JSON file per run. A record that must be on disk at once (``durable``) is
replaced atomically (a temporary file, fsynced, renamed over the old one). The others,
a run's start and its exit, are written in place (:mod:`.inplace`): the start creates
the file, the exit rewrites it, and neither waits for the disk. A job crashing in a
loop has both written with every restart, in the monitor's loop, before it reaps the
next death: a temporary file and a rename each time were four changes of the
directory per restart, each waiting for the journal of a busy disk. The record of an
exit is made durable by the monitor's :class:`~.syncer.Syncer` (fsync of the file and
of the directory) soon after the exit is announced, unless the agent has acknowledged
it first.
A record is deleted when the agent acknowledges the exit, so the directory holds only
live runs and exits not yet reported. Its file is kept as a spare for a later record
(:mod:`.spares`): on ext4, a burst's new files searched past the inodes the previous
burst's deletions freed, a third of the monitor's CPU.
"""

from __future__ import annotations

import contextlib
import json
import os

from .inplace import write_in_place
from .spares import SpareFiles

# Not typing (about 0.8 MiB the long-lived monitor would keep): see .lighttuple.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

#: A run record's fields, in the order of the record.
_FIELDS = (
    "run_id",
    "instance_id",
    "pid",
    "start_ticks",
    "started_at",
    "stdout",
    "stderr",
    "log_max_bytes",
    "log_backups",
    "grace",
    "meta",
    "state",
    "exit_code",
    "signal",
    "ended_at",
    "reason",
    "decision",
)


class Run:
    """One execution of one instance's command (mutable: owned by the monitor loop).

    A plain class, not a dataclass: see ``ProcInfo`` in :mod:`.proctree`.
    """

    __slots__ = _FIELDS

    def __init__(
        self,
        run_id: str,
        instance_id: str,
        pid: int,
        start_ticks: int,
        started_at: float,
        stdout: str,
        stderr: str,
        log_max_bytes: int,
        log_backups: int,
        grace: float,
        meta: dict[str, Any] | None = None,
        state: str = "running",
        exit_code: int | None = None,
        signal: int | None = None,
        ended_at: float | None = None,
        reason: str | None = None,
        decision: dict[str, Any] | None = None,
    ) -> None:
        self.run_id = run_id
        self.instance_id = instance_id
        self.pid = pid
        self.start_ticks = start_ticks
        self.started_at = started_at
        self.stdout = stdout
        self.stderr = stderr
        self.log_max_bytes = log_max_bytes
        self.log_backups = log_backups
        self.grace = grace
        self.meta: dict[str, Any] = {} if meta is None else meta
        self.state = state  # running | ending (leader gone, leftovers dying) | ended
        self.exit_code = exit_code
        self.signal = signal
        self.ended_at = ended_at
        self.reason = reason
        #: What the monitor decided when the run ended on its own (see ``monitor``): the
        #: restart rule's decision, its state after it, and the run that restarted it.
        self.decision = decision

    def public(self) -> dict[str, Any]:
        """The record as sent to the agent and written to disk (a copy: nested maps
        and lists are new ones)."""
        return {name: _copied(getattr(self, name)) for name in _FIELDS}

    def __eq__(self, other: object) -> bool:
        return type(other) is Run and self.public() == other.public()

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _FIELDS)
        return f"Run({fields})"

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it was


def _copied(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _copied(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_copied(v) for v in value)
    return value


class RunStore:
    """Reads and writes run records in one directory."""

    def __init__(self, directory: str) -> None:
        # Absolute: the monitor changes its working directory around each spawn, and its
        # fsync thread (``syncer``) opens and deletes these paths meanwhile.
        self.directory = os.path.abspath(directory)
        os.makedirs(directory, mode=0o700, exist_ok=True)
        # Deleted records' files, to hold new ones (see .spares), beside the records.
        self._spares = SpareFiles(self.directory + ".spare")
        # The runs whose record file this store wrote or read (it exists): written again
        # in place, not into a spare.
        self._files: set[str] = set()

    def _path(self, run_id: str) -> str:
        return os.path.join(self.directory, f"{run_id}.json")

    def save(self, run: Run, *, durable: bool) -> None:
        """Write ``run``: with ``durable``, atomically and on disk when this returns;
        without, in place (see the module docstring)."""
        path = self._path(run.run_id)
        data = json.dumps(run.public()).encode()  # one write, not json.dump's many
        written = run.run_id in self._files
        self._files.add(run.run_id)
        if not durable:
            if written or not self._new_from_spare(path, data):
                write_in_place(path, data)
            return
        temporary = path + ".tmp"
        fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(temporary, path)
        directory = os.open(self.directory, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def _new_from_spare(self, path: str, data: bytes) -> bool:
        """Write a new record into a spare file, then give it its name (see .spares);
        False if there is no spare, or it could not be used."""
        spare = self._spares.take()
        if spare is None:
            return False
        try:
            write_in_place(spare, data)
            os.rename(spare, path)
        except OSError:
            with contextlib.suppress(OSError):
                os.unlink(spare)
            return False
        return True

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
        """Forget a run (its exit has been reported): its file becomes a spare, or
        is deleted."""
        self._files.discard(run_id)
        path = self._path(run_id)
        if self._spares.keep(path, run_id):
            return
        with contextlib.suppress(FileNotFoundError):
            os.unlink(path)

    def load_all(self) -> list[Run]:
        """Every readable record; unreadable ones (a torn temp file) are skipped."""
        runs = []
        for name in sorted(os.listdir(self.directory)):
            if not name.endswith(".json"):
                continue
            path = os.path.join(self.directory, name)
            try:
                with open(path) as f:
                    run = Run(**json.load(f))
            except (OSError, ValueError, TypeError):
                continue
            if f"{run.run_id}.json" != name:
                # A spare renamed to this name before its new text reached the disk (the
                # machine crashed): an acknowledged run's old record. This run's own is
                # lost, as a record never written; the file would never be deleted.
                with contextlib.suppress(OSError):
                    os.unlink(path)
                continue
            runs.append(run)
            self._files.add(run.run_id)
        return runs


def text_field(request: dict[str, Any], key: str) -> str:
    """A request's non-empty text field (ValueError if it is not one)."""
    value = request.get(key)
    if not isinstance(value, str) or not value:
        raise ValueError(f"{key} must be a non-empty string")
    return value
