"""RelayTable: every visit, forward and tunnel the Conductor relays, with its counters.

``GET /tunnels`` lists it. One row per kind and place: a tunnel is one experiment's
name reached from one node (every connection its processes open to it counts there),
a forward is one ``symphony port-forward`` run, a visit one exposed service seen through
``/x/``. Rows live in memory (they describe connections, which end with the Conductor).

Plain state shared by the tasks of one Trio loop: every method is synchronous, so no
two tasks ever interleave inside one. Bounded: past :data:`MAX_ROWS` the rows with no
open connection that were used longest ago are forgotten.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

#: Rows kept at most (idle ones are dropped first, oldest use first).
MAX_ROWS = 1000


@dataclass(slots=True)
class RelayRow:
    """One tunnel, forward or visit and its traffic so far."""

    kind: str  # "tunnel" | "forward" | "visit"
    experiment: str
    service: str
    source: str  # the node a tunnel starts on, or "api" for visits and forwards
    node_id: str  # the node of the process that binds or exposes ``service``
    port: int
    opened_at: float = field(default_factory=time.time)
    last_used: float = field(default_factory=time.time)
    active: int = 0  # connections open now
    connections: int = 0  # connections opened so far
    failures: int = 0  # connections refused or not reached
    bytes_to_service: int = 0
    bytes_from_service: int = 0
    last_error: str | None = None
    session: str | None = None  # a forward's run (one CLI invocation)

    def opened(self) -> None:
        self.active += 1
        self.connections += 1
        self.last_used = time.time()

    def closed(self) -> None:
        self.active = max(0, self.active - 1)
        self.last_used = time.time()

    def failed(self, reason: str) -> None:
        self.failures += 1
        self.last_error = reason[:500]
        self.last_used = time.time()

    def to_service(self, count: int) -> None:
        self.bytes_to_service += count

    def from_service(self, count: int) -> None:
        self.bytes_from_service += count

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "experiment": self.experiment,
            "service": self.service,
            "from": self.source,
            "node_id": self.node_id,
            "port": self.port,
            "session": self.session,
            "opened_at": self.opened_at,
            "last_used": self.last_used,
            "active": self.active,
            "connections": self.connections,
            "failures": self.failures,
            "bytes_to_service": self.bytes_to_service,
            "bytes_from_service": self.bytes_from_service,
            "last_error": self.last_error,
        }


Key = tuple[str, str, str, str, str, int, str | None]


class RelayTable:
    """The rows of ``GET /tunnels``; see the module docstring."""

    def __init__(self, max_rows: int = MAX_ROWS) -> None:
        self._rows: dict[Key, RelayRow] = {}
        self._max = max_rows

    def row(
        self,
        kind: str,
        experiment: str,
        service: str,
        *,
        source: str,
        node_id: str,
        port: int,
        session: str | None = None,
    ) -> RelayRow:
        """The row of this relay, made on first use."""
        key = (kind, experiment, service, source, node_id, port, session)
        found = self._rows.get(key)
        if found is None:
            self._trim()
            found = RelayRow(kind, experiment, service, source, node_id, port, session=session)
            self._rows[key] = found
        return found

    def _trim(self) -> None:
        if len(self._rows) < self._max:
            return
        idle = sorted((r.last_used, k) for k, r in self._rows.items() if r.active == 0)
        for _, key in idle[: max(1, len(self._rows) - self._max + 1)]:
            del self._rows[key]

    def rows(self) -> list[dict[str, Any]]:
        """Every row, tunnels first, then forwards, then visits."""
        order = {"tunnel": 0, "forward": 1, "visit": 2}
        found = sorted(
            self._rows.values(), key=lambda r: (order.get(r.kind, 3), r.experiment, r.service)
        )
        return [r.to_json() for r in found]
