"""The agent's own local state: which instances this node should be running.

``<state_dir>/instances/records.jsonl`` holds one record per instance (see
:mod:`.recordlog`: lines appended to one file, the later line of an instance winning,
no new file per start): the start request (ids and the spec dict) and, once the
instance has settled, its final state and how its last run ended (the *outcome*: exit
code or signal, reason, end time, restarts). The outcome outlives the monitor's run
record, which is deleted once the agent has seen the exit: an agent that dies again
before the Conductor heard of the exit still reports its code. Written when an instance
starts, updated when it settles, deleted when it is stopped. With the monitor's run
records this is all a restarted agent needs to adopt its instances: the spec to keep
supervising them, and which runs are live or ended meanwhile. An earlier agent wrote
each record to a file of its own, ``<instance_id>.json``: such files are read too (a
record in ``records.jsonl`` wins) and deleted with their instance.

Writes are not fsynced: after a machine crash there are no jobs to adopt anyway. A
record file per instance was a file creation per start, about 15 % of the agent's CPU
in a burst of 100 starts on this file system (and before that a temp file and a rename,
a quarter). The record is written when the instance starts and when it settles. A
restart changes only the outcome, and a job that crashes in a loop restarts many times
a second: the latest outcome goes to ``<instance_id>.outcome`` instead, overwritten in
place (:mod:`.inplace`), so a crash loop neither grows the records nor creates files.
When the outcome file cannot be read, the record's own outcome, the one it was last
written with, is used; an unreadable record (cut short by a crash of the machine) is
skipped, as a missing one would be.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from symphony.wire import ProtocolError, job_spec_from_dict

from .inplace import write_in_place
from .recordlog import RECORDS_FILE, RecordLog, read_lines
from .records import StartRequest

logger = logging.getLogger(__name__)
#: The file beside an instance's record that holds its latest outcome (see above).
OUTCOME_SUFFIX = ".outcome"


#: What ``InstanceStore`` notes for an instance with no outcome file (``json.dumps(None)``).
_NO_FILE = "null"


def says_nothing(outcome: dict[str, Any] | None) -> bool:
    """Whether ``outcome`` tells no more than no outcome at all: no exit (code, signal,
    reason, end time) and no restarts, as when an instance's first run starts. Read
    back, either leaves a supervisor as it was made."""
    if outcome is None:
        return True
    return outcome.get("restarts", 0) == 0 and all(
        value is None for key, value in outcome.items() if key != "restarts"
    )


@dataclass(frozen=True, slots=True)
class SavedInstance:
    """One instance file."""

    request: StartRequest
    final_state: str | None
    outcome: dict[str, Any] | None = None


class InstanceStore:
    """Reads and writes instance files in ``<state_dir>/instances``."""

    def __init__(self, state_dir: str) -> None:
        self.directory = os.path.join(state_dir, "instances")
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        self._log = RecordLog(os.path.join(self.directory, RECORDS_FILE), key="instance_id")
        # What each record holds now: its request and final state. A first start saves
        # the same record twice (accepted, then starting); each write is a line appended
        # on the agent's event loop, so an unchanged record is not written again.
        self._written: dict[str, tuple[StartRequest, str | None]] = {}
        # The outcome each outcome file holds now (as JSON), likewise.
        self._outcomes: dict[str, str] = {}
        # The start request of each instance as JSON (without the closing brace): the
        # part of the record that never changes. A job that restarts saves its record
        # with every restart; the spec is turned into JSON once.
        self._heads: dict[str, tuple[StartRequest, str]] = {}

    def _path(self, instance_id: str, suffix: str = ".json") -> str:
        return os.path.join(self.directory, f"{instance_id}{suffix}")

    def save(
        self,
        request: StartRequest,
        *,
        final_state: str | None = None,
        outcome: dict[str, Any] | None = None,
    ) -> None:
        """Record that ``request`` is this node's to run (and its final state and outcome,
        if settled)."""
        instance_id = request.instance_id
        outcome_text = json.dumps(outcome)
        known = self._outcomes.get(instance_id)
        if known != outcome_text:
            # First: the outcome file is what a reader takes, whatever the record says.
            path = self._path(instance_id, OUTCOME_SUFFIX)
            if says_nothing(outcome) and known in (None, _NO_FILE):
                # Nothing to say yet (a first run only starting says as little as no
                # outcome: a file for it would be a new directory entry per start), but
                # an earlier agent may have left a file behind: without it the record's
                # own outcome is read.
                if known is None:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(path)
                outcome_text = _NO_FILE
            else:
                write_in_place(path, outcome_text.encode())
            self._outcomes[instance_id] = outcome_text
        written = self._written.get(instance_id)
        if written is not None and written[0] is request and written[1] == final_state:
            return  # only the outcome changed (a restart): the outcome file has it
        head = self._heads.get(instance_id)
        if head is None or head[0] is not request:
            data: dict[str, Any] = {
                "instance_id": instance_id,
                "deployment_id": request.deployment_id,
                "replica": request.replica,
                "spec": request.spec.to_dict(),
                "gpus": request.gpus,
                "devices": list(request.devices),
            }
            head = self._heads[instance_id] = (request, json.dumps(data)[:-1])
        rest = json.dumps({"final_state": final_state, "outcome": outcome})[1:]
        # As json.dumps of the whole record writes it.
        self._log.put(instance_id, f"{head[1]}, {rest}".encode())
        self._written[instance_id] = (request, final_state)

    def delete(self, instance_id: str) -> None:
        """The instance was stopped: it is no longer this node's."""
        self._written.pop(instance_id, None)
        self._outcomes.pop(instance_id, None)
        self._heads.pop(instance_id, None)
        # The record last: it names the instance (".json": an earlier agent's record).
        for suffix in (OUTCOME_SUFFIX, ".json"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self._path(instance_id, suffix))
        self._log.drop(instance_id)

    def has(self, instance_id: str) -> bool:
        """Whether ``instance_id`` has a record, from memory (the records file's index)
        and one ``stat`` (an earlier agent's record file): no read, no error raised."""
        return instance_id in self._log or os.path.exists(self._path(instance_id))

    def recorded_ids(self) -> set[str]:
        """The ids of every instance with a record (read from the files, not memory)."""
        ids = {n.removesuffix(".json") for n in os.listdir(self.directory) if n.endswith(".json")}
        return ids | set(read_lines(self._log.path, "instance_id"))

    def close(self) -> None:
        """Close the records' file (a later save opens it again)."""
        self._log.close()

    def load_all(self) -> list[SavedInstance]:
        """Every readable record (a torn or foreign one is skipped), by instance id."""
        texts: dict[str, bytes] = {}
        for name in os.listdir(self.directory):
            if name.endswith(".json"):  # an earlier agent's record file
                path = os.path.join(self.directory, name)
                with contextlib.suppress(OSError), open(path, "rb") as f:
                    texts[name.removesuffix(".json")] = f.read()
        texts.update(read_lines(self._log.path, "instance_id"))
        saved = []
        for name in sorted(texts):
            try:
                data = json.loads(texts[name])
                request = StartRequest(
                    instance_id=data["instance_id"],
                    deployment_id=data.get("deployment_id"),
                    replica=data.get("replica"),
                    spec=job_spec_from_dict(data["spec"]),
                    gpus=_count(data.get("gpus")),
                    devices=_ids(data.get("devices")),
                )
                outcome = self._latest_outcome(data["instance_id"], data.get("outcome"))
                saved.append(SavedInstance(request, data.get("final_state"), outcome))
            except ProtocolError as error:  # not a job spec this version can run
                logger.warning("instance record %s: unreadable spec: %s", name, error)
            except (ValueError, KeyError, TypeError):
                continue
        return saved

    def _latest_outcome(self, instance_id: str, recorded: Any) -> dict[str, Any] | None:
        """The outcome file's outcome if it can be read, else the record's own."""
        try:
            with open(self._path(instance_id, OUTCOME_SUFFIX)) as f:
                latest = json.load(f)
        except (OSError, ValueError):
            latest = recorded
        return latest if isinstance(latest, dict) else None


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _ids(value: Any) -> tuple[str, ...]:
    """Device ids from a record (a file of an older agent has none)."""
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str) and item)
