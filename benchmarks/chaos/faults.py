"""The faults: real signals to real processes, each followed by what a test needs to know
(the node was declared lost, the restarted process is back), polled with deadlines.

Mixed into :class:`~benchmarks.chaos.harness.Chaos`; ``self`` is the harness.
"""

from __future__ import annotations

import signal
import time
from typing import TYPE_CHECKING

from .cluster import signal_pid
from .observe import ApiError, job_processes

if TYPE_CHECKING:
    from .harness import Chaos

#: How long a restarted process or a node's reconnection may take before it is a failure.
COME_BACK_TIMEOUT = 60.0


class FaultsMixin:
    """Fault injection for :class:`Chaos`; every fault is a no-op when switched off."""

    def _fault(self: Chaos, kind: str, *, count: bool = True) -> bool:
        if kind not in self.config.faults:
            return False
        self._begin(kind, count=count)
        return True

    def kill_job(self: Chaos, index: int) -> bool:
        """SIGKILL the job process of one running instance, by the pid the API reports.

        The pid is checked against the process's own environment first (deployment and
        replica), so a reused pid is never killed."""
        if not self._fault("kill_job", count=False):
            return False
        try:
            listed = self.api.deployments()
        except ApiError:
            return False
        mine = {(p.name, p.replica): p.pid for p in job_processes(self.tag)}
        targets = sorted(
            (d.name, i["replica"], i["pid"])
            for d in self.model.live
            for i in listed.get(d.name, {}).get("instances", [])
            if i["state"] == "running" and i["pid"] is not None
        )
        targets = [t for t in targets if mine.get((t[0], t[1])) == t[2]]
        if targets:  # counted only when there was a job to kill
            signal_pid(targets[index % len(targets)][2], signal.SIGKILL)
            self.counts["kill_job"] += 1
        self._end()
        return bool(targets)

    def kill_agent(self: Chaos, index: int, *, past_timeout: bool) -> bool:
        """SIGKILL a node agent, then start it again with the same id: at once, or only
        after the Conductor has declared the node lost (its jobs are rescheduled, and the
        copies it still runs must be stopped when it comes back)."""
        if not self._fault("kill_agent"):
            return False
        node_id = self.node_ids[index % len(self.node_ids)]
        with self._disruption(node_id):
            self.cluster.kill_agent(node_id)
            if past_timeout:
                self._wait_node_lost(node_id)
            self.cluster.start_node(node_id)
        self._wait_back(f"agent {node_id} restarted")
        return True

    def kill_monitor(self: Chaos, index: int) -> bool:
        """SIGKILL a node's monitor; the agent must carry on (and keep or restart jobs)."""
        if not self._fault("kill_monitor"):
            return False
        node_id = self.node_ids[index % len(self.node_ids)]
        with self._disruption(None):
            self.cluster.kill_monitor(node_id)
        self._end()
        return True

    def freeze_node(self: Chaos, index: int, *, hold: float) -> bool:
        """SIGSTOP a whole node until the Conductor declares it lost, keep it stopped
        ``hold`` more seconds (its replicas get rescheduled meanwhile), then SIGCONT."""
        if not self._fault("freeze_node"):
            return False
        node_id = self.node_ids[index % len(self.node_ids)]
        with self._disruption(None):
            self.cluster.freeze(node_id)
            try:
                self._wait_node_lost(node_id)
                time.sleep(hold)  # the fault's duration, not a synchronisation
            finally:
                self.cluster.thaw(node_id)
        self._wait_back(f"node {node_id} thawed")
        return True

    def restart_conductor(self: Chaos, *, downtime: float) -> bool:
        """SIGKILL the Conductor, keep it down ``downtime`` seconds, start it again on the
        same state directory and ports; returns once every node is ready again."""
        if not self._fault("restart_conductor"):
            return False
        self.disrupted_conductor = True
        try:
            with self._disruption("conductor"):
                self.cluster.kill_conductor()
                time.sleep(downtime)  # the outage's duration, not a synchronisation
                self.cluster.start_conductor()
            if not self._poll("healthz", self.api.healthy, timeout=COME_BACK_TIMEOUT):
                self.report("converge", "the restarted Conductor never answered /healthz")
            self._wait_back("Conductor restarted")
        finally:
            # Reconnecting nodes and the first reconciliation may still slow the API a bit.
            self.restart_until = time.monotonic() + 2.0
            self.disrupted_conductor = False
        return True

    # -- helpers --------------------------------------------------------------------------

    def _disruption(self: Chaos, expected: str | None) -> _Disruption:
        return _Disruption(self, expected)

    def _wait_node_lost(self: Chaos, node_id: str) -> None:
        timeout = self.config.node_timeout + self.config.settle_slack
        if not self._poll(
            f"{node_id} lost",
            lambda: self._node_states().get(node_id) not in (None, "ready"),
            timeout=timeout,
        ):
            self.report("converge", f"{node_id} silent but not declared lost in {timeout:g} s")

    def _wait_back(self: Chaos, what: str) -> None:
        if not self._wait_nodes_ready(timeout=COME_BACK_TIMEOUT):
            self.report("converge", f"{what}: not every node ready in {COME_BACK_TIMEOUT:g} s")
        self._end()


class _Disruption:
    """Marks a fault in progress: a process the harness killed is not a crash, and the
    deleted-processes deadline starts over when the fault ends."""

    def __init__(self, chaos: Chaos, expected: str | None) -> None:
        self.chaos, self.expected = chaos, expected

    def __enter__(self) -> None:
        with self.chaos.lock:
            self.chaos.disrupted += 1
            if self.expected:
                self.chaos.expected_down.add(self.expected)

    def __exit__(self, *exc: object) -> None:
        with self.chaos.lock:
            self.chaos.disrupted -= 1
            self.chaos.disrupted_until = time.monotonic()
            if self.expected:
                self.chaos.expected_down.discard(self.expected)
