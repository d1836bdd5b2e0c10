"""The harness's own idea of what the cluster should be: one entry per deployment.

The model changes only when the API acknowledged a write (a 2xx answer), so it is exactly
the set of acknowledged writes that must survive any restart. Names are never reused, so a
process can always be told apart from an earlier deployment's.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

#: Environment variables the harness puts in every job (besides the node's SYMPHONY_*).
TAG_ENV, NAME_ENV, VERSION_ENV = "CHAOS_TAG", "CHAOS_NAME", "CHAOS_VERSION"

#: The job's program. ``sleep`` is one process per replica, dies at once on SIGTERM and
#: lets the process scan skip everything else by name before reading environments.
JOB_PROGRAM = "sleep"


@dataclass
class Deployment:
    """The acknowledged state of one deployment."""

    name: str
    replicas: int
    running: bool = True
    version: int = 0
    deleted_at: float | None = None  # time.monotonic() of the acknowledged DELETE

    @property
    def demand(self) -> int:
        """Units of capacity it holds when settled."""
        return self.replicas if self.running and self.deleted_at is None else 0


@dataclass
class Model:
    """All deployments of one chaos run (live and deleted)."""

    tag: str
    deployments: dict[str, Deployment] = field(default_factory=dict)
    _names: itertools.count[int] = field(default_factory=itertools.count)

    def new_name(self) -> str:
        return f"chaos-{next(self._names)}"

    @property
    def live(self) -> list[Deployment]:
        """Deployments not deleted, oldest first (an index into it is stable to shrink)."""
        return [d for d in self.deployments.values() if d.deleted_at is None]

    @property
    def demand(self) -> int:
        return sum(d.demand for d in self.deployments.values())

    def pick(self, index: int) -> Deployment | None:
        live = self.live
        return live[index % len(live)] if live else None

    def spec(
        self,
        name: str,
        replicas: int,
        *,
        stop_timeout: float,
        backoff: float,
        reschedule_delay: float,
    ) -> dict[str, Any]:
        """The spec of a new deployment: one unit of ``A`` per replica, a ``sleep`` job.

        The restart budget is small (one restart a minute) so that a job killed twice
        becomes ``failed`` and exercises the Conductor's reschedule path too.
        """
        return {
            "name": name,
            "replicas": replicas,
            "capacity_requests": {"A": 1},
            "config": {
                "command": [JOB_PROGRAM, "100000"],
                "env": {TAG_ENV: self.tag, NAME_ENV: name, VERSION_ENV: "0"},
            },
            "restart_policy": {
                "type": "on-failure",
                "backoff_seconds": backoff,
                "max_backoff_seconds": max(backoff, 1.0),
                "max_restarts": 1,
                "restart_window_seconds": 60,
            },
            "stop_timeout_seconds": stop_timeout,
            # A spec change replaces every replica at once, one down one up, and a new
            # instance counts as healthy once it runs: the chaos run checks the core's
            # invariants (one process per replica once settled, capacity, convergence
            # within the deadline), not the pace of a rolling update. No automatic
            # revert: the spec the harness wrote is the one that must run.
            "update": {
                "max_parallel": 10_000,
                "max_surge": 0,
                "min_healthy_seconds": 0,
                "auto_revert": False,
            },
            "reschedule": {
                "attempts": 1000,
                "delay_seconds": reschedule_delay,
                "max_delay_seconds": reschedule_delay,
            },
        }
