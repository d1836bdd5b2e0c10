"""The agent's own local state: which instances this node should be running.

``<state_dir>/instances/<instance_id>.json`` holds the start request (ids and the spec
dict) and, once the instance has settled, its final state and how its last run ended
(the *outcome*: exit code or signal, reason, end time, restarts). The outcome outlives
the monitor's run record, which is deleted once the agent has seen the exit: an agent
that dies again before the Conductor heard of the exit still reports its code.
Written when an instance starts, updated when it settles, deleted when it is stopped.
With the monitor's run records this is all a restarted agent needs to adopt its
instances: the spec to keep supervising them, and which runs are live or ended
meanwhile.

Writes are atomic (temp file + rename) but not fsynced: after a machine crash there
are no jobs to adopt anyway.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from dataclasses import dataclass
from typing import Any

from symphony.wire import ProtocolError, job_spec_from_dict

from .records import StartRequest

logger = logging.getLogger(__name__)


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
        # What each file holds now. A first start saves the same record twice (accepted,
        # then starting); each write is a file creation on the agent's event loop, so an
        # unchanged record is not written again.
        self._written: dict[str, str] = {}
        # The start request of each instance as JSON (without the closing brace): the
        # part of the record that never changes. A job that restarts saves its record
        # with every restart; the spec is turned into JSON once.
        self._heads: dict[str, tuple[StartRequest, str]] = {}

    def _path(self, instance_id: str) -> str:
        return os.path.join(self.directory, f"{instance_id}.json")

    def save(
        self,
        request: StartRequest,
        *,
        final_state: str | None = None,
        outcome: dict[str, Any] | None = None,
    ) -> None:
        """Record that ``request`` is this node's to run (and its final state and outcome,
        if settled)."""
        head = self._heads.get(request.instance_id)
        if head is None or head[0] is not request:
            data: dict[str, Any] = {
                "instance_id": request.instance_id,
                "deployment_id": request.deployment_id,
                "replica": request.replica,
                "spec": request.spec.to_dict(),
                "gpus": request.gpus,
                "devices": list(request.devices),
            }
            head = self._heads[request.instance_id] = (request, json.dumps(data)[:-1])
        rest = json.dumps({"final_state": final_state, "outcome": outcome})[1:]
        text = f"{head[1]}, {rest}"  # as json.dumps of the whole record writes it
        if self._written.get(request.instance_id) == text:
            return
        path = self._path(request.instance_id)
        with open(path + ".tmp", "w") as f:
            f.write(text)
        os.replace(path + ".tmp", path)
        self._written[request.instance_id] = text

    def delete(self, instance_id: str) -> None:
        """The instance was stopped: it is no longer this node's."""
        self._written.pop(instance_id, None)
        self._heads.pop(instance_id, None)
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._path(instance_id))

    def load_all(self) -> list[SavedInstance]:
        """Every readable instance file (a torn or foreign file is skipped)."""
        saved = []
        for name in sorted(os.listdir(self.directory)):
            if not name.endswith(".json"):
                continue
            try:
                with open(os.path.join(self.directory, name)) as f:
                    data = json.load(f)
                request = StartRequest(
                    instance_id=data["instance_id"],
                    deployment_id=data.get("deployment_id"),
                    replica=data.get("replica"),
                    spec=job_spec_from_dict(data["spec"]),
                    gpus=_count(data.get("gpus")),
                    devices=_ids(data.get("devices")),
                )
                outcome = data.get("outcome")
                outcome = outcome if isinstance(outcome, dict) else None
                saved.append(SavedInstance(request, data.get("final_state"), outcome))
            except ProtocolError as error:  # not a job spec this version can run
                logger.warning("instance file %s: unreadable spec: %s", name, error)
            except (OSError, ValueError, KeyError, TypeError):
                continue
        return saved


def _count(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _ids(value: Any) -> tuple[str, ...]:
    """Device ids from a record (a file of an older agent has none)."""
    if not isinstance(value, list):
        return ()
    return tuple(item for item in value if isinstance(item, str) and item)
