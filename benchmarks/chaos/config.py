"""What a chaos run may do and what it checks: every fault and invariant by name.

Each fault and each invariant can be switched off on its own, so a known bug can be
excluded from one test case without blinding the others (and switched back on once fixed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

#: Ordinary API use, always on: create, scale, stop/start, change the spec, delete.
OPERATIONS = ("create", "scale", "set_state", "patch_spec", "delete")

#: Faults, each a real signal sent to a real process.
FAULTS = {
    "kill_job": "SIGKILL one job process, found by the pid the API reports",
    "kill_agent": "SIGKILL a node agent; restart it at once or after the node timeout",
    "kill_monitor": "SIGKILL a node's monitor (the process that owns the jobs)",
    "freeze_node": "SIGSTOP a node (agent, monitor, jobs) until the Conductor declares it "
    "lost, then SIGCONT",
    "restart_conductor": "SIGKILL the Conductor and start it again on the same state",
}

#: Invariants; see docs/benchmarks.md for the exact rule each one checks.
INVARIANTS = {
    "capacity": "no node runs more job processes than its capacity; the API agrees",
    "one_per_replica": "once settled, exactly one process per replica, the one the API names",
    "converge": "the desired state is reached within node_timeout + reschedule delay + 10 s",
    "durable_writes": "every acknowledged write is present after any restart",
    "deleted_gone": "no process of a deleted deployment outlives its stop timeout",
    "api_latency": "every API call answers within the limit outside a Conductor restart",
    "agent_alive": "a node agent or the Conductor never exits unless the harness killed it",
}


@dataclass(frozen=True, kw_only=True)
class ChaosConfig:
    """One chaos run's cluster shape, timings and switches.

    Timings are short on purpose (a 0.5 s heartbeat, a 2 s node timeout) so that a node
    loss resolves in seconds. Every deployment asks for one unit of capacity, and the
    harness keeps the total demand within what ``nodes - 1`` nodes offer, so that the
    desired state is always reachable, even with one node lost.
    """

    nodes: int = 3
    capacity: int = 3
    heartbeat: float = 0.5
    node_timeout: float = 2.0
    reschedule_delay: float = 1.0
    stop_timeout: float = 1.0
    restart_backoff: float = 0.2
    api_limit: float = 1.0  # seconds an API call may take outside a Conductor restart
    settle_slack: float = 10.0  # the "+ 10 s" of the convergence deadline
    sample_interval: float = 0.2
    faults: frozenset[str] = field(default_factory=lambda: frozenset(FAULTS))
    invariants: frozenset[str] = field(default_factory=lambda: frozenset(INVARIANTS))

    def __post_init__(self) -> None:
        unknown = (self.faults - set(FAULTS)) | (self.invariants - set(INVARIANTS))
        if unknown:
            raise ValueError(f"unknown fault or invariant names: {sorted(unknown)}")
        if self.nodes < 2:
            raise ValueError("nodes must be >= 2: a lost node's jobs need somewhere to go")

    @property
    def budget(self) -> int:
        """Units of capacity the deployments may ask for in total (one node spare)."""
        return self.capacity * (self.nodes - 1)

    @property
    def settle_deadline(self) -> float:
        """Seconds after the last action by which the desired state must be reached."""
        return self.node_timeout + self.reschedule_delay + self.settle_slack
