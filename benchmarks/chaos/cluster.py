"""The real cluster under test, and the signals the faults send to it.

It is the benchmarks' :class:`~benchmarks.scenarios._cluster.Cluster` (a Conductor and
Nodes started the way an operator starts them, each in its own session) plus the ways to
hurt one part of it. ``stop`` leaves no process behind, whatever state the faults left:
frozen processes are resumed first, then everything is killed, orphaned jobs included.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess

import psutil

from ..scenarios._cluster import Cluster
from .observe import job_processes


class ChaosCluster(Cluster):
    """A :class:`Cluster` with per-process faults; every method is synchronous."""

    def __init__(self, *args: object, tag: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.tag = tag
        self.frozen: dict[str, list[int]] = {}  # node id -> pids we SIGSTOPped
        self.sessions: list[int] = []  # every process we started leads its own session

    def _spawn(self, args: list[str], log_name: str) -> subprocess.Popen[bytes]:
        proc = super()._spawn(args, log_name)
        self.sessions.append(proc.pid)
        return proc

    def agent_pid(self, node_id: str) -> int | None:
        proc = self.nodes.get(node_id)
        return proc.pid if proc is not None and proc.poll() is None else None

    def monitor_pids(self, node_id: str) -> list[int]:
        """The node monitor(s) of ``node_id``: detached, found by their state directory."""
        agent = self.agent_pid(node_id)
        pids = []
        for proc in self.node_tree(node_id):
            with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                if proc.pid != agent and "--daemon" in proc.cmdline():
                    pids.append(proc.pid)
        return pids

    def kill_agent(self, node_id: str) -> None:
        """SIGKILL the agent alone (its monitor and jobs keep running, as designed)."""
        proc = self.nodes.get(node_id)
        if proc is not None:
            proc.kill()
            proc.wait(10)

    def kill_monitor(self, node_id: str) -> int:
        """SIGKILL the node's monitor; returns how many monitors were killed."""
        pids = self.monitor_pids(node_id)
        for pid in pids:
            signal_pid(pid, signal.SIGKILL)
        return len(pids)

    def freeze(self, node_id: str) -> None:
        """SIGSTOP the whole node, as a machine that hangs: agent, monitor and its jobs."""
        pids = [p.pid for p in self.node_tree(node_id)]
        pids += [j.pid for j in job_processes(self.tag) if j.node == node_id]
        for pid in dict.fromkeys(pids):
            signal_pid(pid, signal.SIGSTOP)
        self.frozen[node_id] = pids

    def thaw(self, node_id: str) -> None:
        """SIGCONT what :meth:`freeze` stopped."""
        for pid in self.frozen.pop(node_id, []):
            signal_pid(pid, signal.SIGCONT)

    def thaw_all(self) -> None:
        for node_id in list(self.frozen):
            self.thaw(node_id)

    def stop(self) -> None:
        """Stop everything this cluster started, including jobs orphaned by a fault."""
        self.thaw_all()
        try:
            super().stop()
        finally:
            # Whatever is left of every process group we started (restarted agents'
            # earlier groups included), then jobs orphaned out of their groups.
            for pgid in self.sessions:
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(pgid, signal.SIGKILL)
            for job in job_processes(self.tag):
                signal_pid(job.pid, signal.SIGKILL)


def signal_pid(pid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to one process, if it still exists."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)
