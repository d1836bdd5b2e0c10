"""The continuous checks: a thread that looks at the real processes and the API every
``sample_interval`` seconds while the driver runs operations and faults.

What it checks each time (an invariant is skipped when switched off):

- ``capacity``: per node, live job processes (frozen ones count: they still hold the
  machine) <= the node's capacity; and the API's ``capacities_used`` <= total.
- ``deleted_gone``: no process of a deployment deleted more than its stop timeout + 3 s
  ago (counted from the end of the last fault: a frozen node cannot stop anything).
- ``one_per_replica``: while the cluster is settled, at most one process per replica.
- ``agent_alive``: every agent, and the Conductor, is alive unless the harness killed it.
- ``api_latency``: its own ``GET /nodes`` calls are timed like every other call.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from .observe import Api, ApiError, job_processes

if TYPE_CHECKING:
    from .harness import Chaos

#: Propagation allowance on top of a deployment's stop timeout (a heartbeat or two, and a
#: loaded machine).
DELETE_GRACE = 3.0


class Sampler:
    """Runs :meth:`sample` in a daemon thread until :meth:`stop`."""

    def __init__(self, chaos: Chaos) -> None:
        self.chaos = chaos
        self.samples = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._api = Api(chaos.cluster.http_url, chaos._on_call, timeout=5.0)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="chaos-sampler", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(30)
        self._api.close()

    def _run(self) -> None:
        while not self._stop.wait(self.chaos.config.sample_interval):
            self.sample()

    def sample(self) -> None:
        """One look at everything; violations go to :meth:`Chaos.report`."""
        chaos = self.chaos
        self.samples += 1
        procs = job_processes(chaos.tag)
        on: Counter[str] = Counter(p.node for p in procs)
        chaos.checks["capacity"] += 1
        for node_id, count in on.items():
            if count > chaos.config.capacity:
                names = sorted(f"{p.name}[{p.replica}]" for p in procs if p.node == node_id)
                chaos.report(
                    "capacity",
                    f"{node_id} runs {count} jobs > capacity {chaos.config.capacity}: {names}",
                    key=f"procs {node_id}",
                )
        self._check_api_capacity()
        with chaos.lock:
            quiet = chaos.disrupted == 0
            since = chaos.disrupted_until
            deleted = [
                (d.name, d.deleted_at)
                for d in chaos.model.deployments.values()
                if d.deleted_at is not None
            ]
            settled = chaos.settled
            expected = set(chaos.expected_down)
        now = time.monotonic()
        if quiet:
            chaos.checks["deleted_gone"] += 1
            limit = chaos.config.stop_timeout + DELETE_GRACE
            for name, at in deleted:
                late = [p for p in procs if p.name == name and not p.frozen]
                if late and now > max(at, since) + limit:
                    chaos.report(
                        "deleted_gone",
                        f"{name}: pids {[p.pid for p in late]} "
                        f"still run {now - at:.1f} s after DELETE",
                        key=name,
                    )
        if settled:
            chaos.checks["one_per_replica"] += 1
            seen: Counter[tuple[str, int]] = Counter((p.name, p.replica) for p in procs)
            for (name, replica), count in seen.items():
                if count > 1:
                    chaos.report(
                        "one_per_replica",
                        f"{name}[{replica}]: {count} processes after the cluster had settled",
                        key=f"{name}[{replica}]",
                    )
        self._check_alive(expected)

    def _check_api_capacity(self) -> None:
        chaos = self.chaos
        try:
            nodes = self._api.nodes()
        except ApiError:
            return  # a failed call is judged by api_latency
        for node_id, node in nodes.items():
            for cls, used in node.get("capacities_used", {}).items():
                total = node.get("capacities_total", {}).get(cls, 0)
                if used > total:
                    chaos.report(
                        "capacity",
                        f"API: {node_id} uses {used} of {total} {cls}",
                        key=f"api {node_id}",
                    )

    def _check_alive(self, expected: set[str]) -> None:
        chaos = self.chaos
        chaos.checks["agent_alive"] += 1
        for node_id, proc in list(chaos.cluster.nodes.items()):
            code = proc.poll()
            if code is not None and node_id not in expected:
                why = last_line(chaos.cluster.root / f"{node_id}.log")
                chaos.report(
                    "agent_alive",
                    f"agent {node_id} exited with {code}: {why}",
                    key=f"{node_id} {proc.pid}",
                )
        conductor = chaos.cluster.conductor
        if conductor is not None and "conductor" not in expected:
            code = conductor.poll()
            if code is not None:
                why = last_line(chaos.cluster.root / "conductor.log")
                chaos.report(
                    "agent_alive",
                    f"the Conductor exited with {code}: {why}",
                    key=f"conductor {conductor.pid}",
                )


def last_line(log: Path, *, tail: int = 4096) -> str:
    """The last non-empty line of a process's log (its ``symphony: error: ...``), so that
    a violation says why the process exited, not only that it did."""
    try:
        with log.open("rb") as file:
            file.seek(max(0, log.stat().st_size - tail))
            lines = file.read().decode("utf-8", "replace").splitlines()
    except OSError as error:
        return f"(no log: {error.strerror})"
    return next((line for line in reversed(lines) if line.strip()), "(empty log)")
